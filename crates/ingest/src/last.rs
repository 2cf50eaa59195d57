//! The last reading of some bytes, kept: a shipper's request repeats one
//! action line, label set or resource before every event, and the indexer
//! reads its records one at a time, so reading each afresh cost more than
//! the event itself.

/// What `read` made of the bytes given last, by their form (a byte telling
/// e.g. JSON from protobuf, whose texts could coincide) and the bytes.
pub(crate) struct Last<T> {
    key: Vec<u8>,
    value: Option<T>,
}

impl<T: Clone> Last<T> {
    pub(crate) const fn new() -> Self {
        Last {
            key: Vec::new(),
            value: None,
        }
    }

    /// `read()`'s value, or the one kept if `form` and `bytes` are those of
    /// the last call. Only a value is kept, never an error.
    pub(crate) fn get<E>(
        &mut self,
        form: u8,
        bytes: &[u8],
        read: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        if let Some(v) = &self.value {
            if self.key.first() == Some(&form) && &self.key[1..] == bytes {
                return Ok(v.clone());
            }
        }
        let v = read()?;
        self.key.clear();
        self.key.push(form);
        self.key.extend_from_slice(bytes);
        self.value = Some(v.clone());
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_by_form_and_bytes_and_errors_are_not() {
        let mut last = Last::<u32>::new();
        let mut reads = 0;
        let mut get = |last: &mut Last<u32>, form, b: &[u8], v: Result<u32, ()>| {
            last.get(form, b, || {
                reads += 1;
                v
            })
        };
        assert_eq!(get(&mut last, b'j', b"a", Ok(1)), Ok(1));
        assert_eq!(get(&mut last, b'j', b"a", Ok(2)), Ok(1));
        assert_eq!(get(&mut last, b'p', b"a", Ok(3)), Ok(3));
        assert_eq!(get(&mut last, b'p', b"b", Err(())), Err(()));
        assert_eq!(get(&mut last, b'p', b"b", Ok(4)), Ok(4));
        assert_eq!(reads, 4);
    }
}
