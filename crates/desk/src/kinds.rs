//! The 20 kinds of cyber-security incident of Annexure I to CERT-In's
//! directions of 28 April 2022, with stable codes.
//!
//! The wording is the directions' own (spelling, capitals and spacing as
//! published); the codes are pramaan's and never change meaning, so stored
//! incidents and scripts keep working when the wording is revised.

use serde::Serialize;

/// One kind of incident that must be reported to CERT-In within 6 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Kind {
    /// Stable code, e.g. `data-breach`.
    pub code: &'static str,
    /// Position in Annexure I, 1 to 20.
    pub number: u8,
    /// The Annexure's own numbering: `i` to `xx`.
    pub roman: &'static str,
    /// The official wording.
    pub wording: &'static str,
}

const fn k(code: &'static str, number: u8, roman: &'static str, wording: &'static str) -> Kind {
    Kind {
        code,
        number,
        roman,
        wording,
    }
}

/// Annexure I, in its order.
pub static KINDS: [Kind; 20] = [
    k("targeted-scanning", 1, "i", "Targeted scanning/probing of critical networks/systems"),
    k("critical-compromise", 2, "ii", "Compromise of critical systems/information"),
    k("unauthorised-access", 3, "iii", "Unauthorised access of IT systems/data"),
    k(
        "website-defacement",
        4,
        "iv",
        "Defacement of website or intrusion into a website and unauthorised changes such as inserting malicious code, links to external websites etc.",
    ),
    k(
        "malicious-code",
        5,
        "v",
        "Malicious code attacks such as spreading of virus/worm/Trojan/Bots/ Spyware/Ransomware/Cryptominers",
    ),
    k(
        "server-network-attack",
        6,
        "vi",
        "Attack on servers such as Database, Mail and DNS and network devices such as Routers",
    ),
    k("identity-theft-phishing", 7, "vii", "Identity Theft, spoofing and phishing attacks"),
    k(
        "dos-ddos",
        8,
        "viii",
        "Denial of Service (DoS) and Distributed Denial of Service (DDoS) attacks",
    ),
    k(
        "critical-infrastructure",
        9,
        "ix",
        "Attacks on Critical infrastructure, SCADA and operational technology systems and Wireless networks",
    ),
    k(
        "application-attack",
        10,
        "x",
        "Attacks on Application such as E-Governance, E-Commerce etc.",
    ),
    k("data-breach", 11, "xi", "Data Breach"),
    k("data-leak", 12, "xii", "Data Leak"),
    k(
        "iot-attack",
        13,
        "xiii",
        "Attacks on Internet of Things (IoT) devices and associated systems, networks, software, servers",
    ),
    k(
        "digital-payment",
        14,
        "xiv",
        "Attacks or incident affecting Digital Payment systems",
    ),
    k("malicious-mobile-app", 15, "xv", "Attacks through Malicious mobile Apps"),
    k("fake-mobile-app", 16, "xvi", "Fake mobile Apps"),
    k(
        "social-media-access",
        17,
        "xvii",
        "Unauthorised access to social media accounts",
    ),
    k(
        "cloud",
        18,
        "xviii",
        "Attacks or malicious/ suspicious activities affecting Cloud computing systems/servers/software/applications",
    ),
    k(
        "emerging-tech",
        19,
        "xix",
        "Attacks or malicious/suspicious activities affecting systems/ servers/ networks/ software/ applications related to Big Data, Block chain, virtual assets, virtual asset exchanges, custodian wallets, Robotics, 3D and 4D Printing, additive manufacturing, Drones",
    ),
    k(
        "ai-ml",
        20,
        "xx",
        "Attacks or malicious/ suspicious activities affecting systems/ servers/software/ applications related to Artificial Intelligence and Machine Learning",
    ),
];

/// The kind with this code (case-insensitive), or with this Annexure
/// number (`11`) or Roman numeral (`xi`).
pub fn find(code: &str) -> Option<&'static Kind> {
    let c = code.trim().to_ascii_lowercase();
    KINDS
        .iter()
        .find(|k| k.code == c || k.roman == c || c.parse::<u8>().is_ok_and(|n| n == k.number))
}

/// Every valid code, comma-separated, for error messages.
pub fn valid_codes() -> String {
    KINDS.iter().map(|k| k.code).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_unique_codes_in_order() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(k.number as usize, i + 1);
            assert_eq!(KINDS.iter().filter(|o| o.code == k.code).count(), 1);
            assert_eq!(KINDS.iter().filter(|o| o.roman == k.roman).count(), 1);
        }
    }

    #[test]
    fn finds_by_code_number_and_numeral() {
        assert_eq!(find("data-breach").unwrap().number, 11);
        assert_eq!(find("DATA-LEAK").unwrap().number, 12);
        assert_eq!(find("20").unwrap().code, "ai-ml");
        assert_eq!(find("xvi").unwrap().code, "fake-mobile-app");
        assert!(find("ransom").is_none());
        assert!(find("21").is_none());
    }
}
