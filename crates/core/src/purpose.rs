//! The purpose (or order reference) every read of personal data must give:
//! one rule for the registry, `whois` and everything that calls them.

/// Characters that show nothing on their own: format characters (zero-width
/// space and joiners, direction marks, the byte-order mark, ...), fillers
/// that render as blanks, variation selectors and tag characters. Together
/// with whitespace and control characters they cannot make a purpose.
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// The purpose without surrounding whitespace, if it has at least one
/// visible character; `None` when it is empty or only blanks, control or
/// zero-width characters (which would leave the audit trail without a reason).
pub fn checked(purpose: &str) -> Option<&str> {
    let t = purpose.trim_matches(invisible);
    (!t.is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::checked;

    #[test]
    fn a_purpose_needs_a_visible_character() {
        for bad in [
            "",
            "   ",
            "\u{200B}",
            " \u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF} ",
            "\u{3164}\u{2800}",
            "\t\n\r",
            "\u{E0041}\u{E0042}",
        ] {
            assert_eq!(checked(bad), None, "{bad:?}");
        }
        assert_eq!(checked("  case 42 "), Some("case 42"));
        assert_eq!(checked("\u{200B}case 42\u{200B}"), Some("case 42"));
        assert_eq!(checked("आदेश 17/2025"), Some("आदेश 17/2025"));
        assert_eq!(checked("x"), Some("x"));
    }
}
