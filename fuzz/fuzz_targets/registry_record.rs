//! One subscriber as a JSON body (the HTTP API's create/update): validation
//! never panics, and a valid subscriber survives its round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pramaan_registry::SubscriberInput;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<SubscriberInput>(data) else {
        return;
    };
    if let Ok(s) = input.validate() {
        assert_eq!(s.to_input().validate().as_ref(), Ok(&s));
        let _ = s.to_json();
        let _ = s.missing();
    }
});
