//! A Sigma condition: `selection and not 1 of filter_*`, `all of them`,
//! `keywords or (a and b)`. Precedence: `not` binds tightest, then `and`,
//! then `or`; parentheses group. A pattern after `1 of` / `all of` is a
//! search identifier with `*` wildcards, or `them` (every identifier not
//! starting with `_`).

/// A parsed condition over the rule's search identifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    Id(String),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// `1 of PATTERN` (any) or `all of PATTERN`.
    Of {
        all: bool,
        pattern: String,
    },
}

/// Why a condition does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CondError {
    #[error("`|` starts an aggregation, which may come only once, after the whole condition")]
    Aggregation,
    #[error("unexpected `{0}`")]
    Unexpected(String),
    #[error("the condition ends too early")]
    Incomplete,
    #[error("`{0}` names no search identifier of this rule")]
    Unknown(String),
    #[error("`{0}` matches no search identifier of this rule")]
    NoMatch(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

fn tokens(s: &str) -> Result<Vec<Tok>, CondError> {
    if s.contains('|') {
        return Err(CondError::Aggregation);
    }
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |w: &mut String, out: &mut Vec<Tok>| {
        if !w.is_empty() {
            out.push(Tok::Word(std::mem::take(w)));
        }
    };
    for c in s.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut out);
                out.push(if c == '(' { Tok::Open } else { Tok::Close });
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            // A `#` starts a comment to the end (SigmaHQ has one such rule).
            '#' => break,
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    Ok(out)
}

/// Parses `s`, checking every identifier and pattern against `ids`.
pub fn parse(s: &str, ids: &[String]) -> Result<Cond, CondError> {
    let toks = tokens(s)?;
    let mut p = Parser { toks, pos: 0, ids };
    let c = p.or()?;
    match p.toks.get(p.pos) {
        None => Ok(c),
        Some(t) => Err(CondError::Unexpected(show(t))),
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) => w.clone(),
        Tok::Open => "(".into(),
        Tok::Close => ")".into(),
    }
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    ids: &'a [String],
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Cond, CondError> {
        let mut parts = vec![self.and()?];
        while self.peek_word() == Some("or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, CondError> {
        let mut parts = vec![self.not()?];
        while self.peek_word() == Some("and") {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            Cond::And(parts)
        })
    }

    fn not(&mut self) -> Result<Cond, CondError> {
        if self.peek_word() == Some("not") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Cond, CondError> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or(CondError::Incomplete)?;
        self.pos += 1;
        match t {
            Tok::Open => {
                let c = self.or()?;
                match self.toks.get(self.pos) {
                    Some(Tok::Close) => {
                        self.pos += 1;
                        Ok(c)
                    }
                    Some(t) => Err(CondError::Unexpected(show(t))),
                    None => Err(CondError::Incomplete),
                }
            }
            Tok::Close => Err(CondError::Unexpected(")".into())),
            Tok::Word(w) if w == "1" || w == "all" || w == "any" => {
                if self.peek_word() != Some("of") {
                    return Err(CondError::Unexpected(w));
                }
                self.pos += 1;
                let pattern = self.peek_word().ok_or(CondError::Incomplete)?.to_owned();
                self.pos += 1;
                if expand(&pattern, self.ids).is_empty() {
                    return Err(CondError::NoMatch(pattern));
                }
                Ok(Cond::Of {
                    all: w == "all",
                    pattern,
                })
            }
            Tok::Word(w) if matches!(w.as_str(), "and" | "or" | "of") => {
                Err(CondError::Unexpected(w))
            }
            Tok::Word(w) => {
                if self.ids.contains(&w) {
                    Ok(Cond::Id(w))
                } else {
                    Err(CondError::Unknown(w))
                }
            }
        }
    }
}

/// The identifiers a `1 of` / `all of` pattern names.
pub fn expand<'a>(pattern: &str, ids: &'a [String]) -> Vec<&'a str> {
    ids.iter()
        .map(String::as_str)
        .filter(|id| {
            if pattern == "them" {
                !id.starts_with('_')
            } else {
                pramaan_core::zones::glob_match(pattern, id)
            }
        })
        .collect()
}

impl Cond {
    /// Evaluates with `value(id)` giving each identifier's result.
    pub fn eval(&self, ids: &[String], value: &mut dyn FnMut(&str) -> bool) -> bool {
        match self {
            Cond::Id(id) => value(id),
            Cond::Not(c) => !c.eval(ids, value),
            Cond::And(cs) => cs.iter().all(|c| c.eval(ids, value)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval(ids, value)),
            Cond::Of { all, pattern } => {
                let names = expand(pattern, ids);
                if *all {
                    names.into_iter().all(value)
                } else {
                    names.into_iter().any(value)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn eval(cond: &str, names: &[&str], truth: &[&str]) -> bool {
        let ids = ids(names);
        let c = parse(cond, &ids).unwrap();
        c.eval(&ids, &mut |id| truth.contains(&id))
    }

    #[test]
    fn precedence_groups_and_patterns() {
        let n = ["selection", "filter_a", "filter_b", "keywords"];
        assert!(eval("selection and not filter_a", &n, &["selection"]));
        assert!(!eval(
            "selection and not 1 of filter_*",
            &n,
            &["selection", "filter_b"]
        ));
        assert!(eval("selection and not 1 of filter_*", &n, &["selection"]));
        assert!(eval("all of filter_*", &n, &["filter_a", "filter_b"]));
        assert!(!eval("all of filter_*", &n, &["filter_a"]));
        // not > and > or
        assert!(eval(
            "keywords or selection and filter_a",
            &n,
            &["keywords"]
        ));
        assert!(!eval(
            "(keywords or selection) and filter_a",
            &n,
            &["keywords"]
        ));
        assert!(eval("1 of them", &n, &["filter_b"]));
        assert!(eval("not selection # and not approved", &n, &[]));
    }

    #[test]
    fn bad_conditions_say_what() {
        let n = ids(&["selection", "filter"]);
        assert_eq!(
            parse("selection | count() > 5", &n),
            Err(CondError::Aggregation)
        );
        assert_eq!(parse("selection and", &n), Err(CondError::Incomplete));
        assert_eq!(
            parse("selectoin", &n),
            Err(CondError::Unknown("selectoin".into()))
        );
        assert_eq!(
            parse("1 of nothing_*", &n),
            Err(CondError::NoMatch("nothing_*".into()))
        );
        assert_eq!(parse("(selection", &n), Err(CondError::Incomplete));
        assert_eq!(
            parse("selection filter", &n),
            Err(CondError::Unexpected("filter".into()))
        );
    }
}
