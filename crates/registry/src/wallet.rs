//! Crypto wallet addresses a virtual asset service provider's customer
//! declared or linked: the chains the register knows and the check of an
//! address's form on each. Pure: no I/O; the transaction ledger reuses it.
//!
//! The check is of the form only (prefix, length, alphabet), not of
//! checksums: it catches a pasted e-mail, a truncated address or the wrong
//! chain, and keeps the stored text in one spelling (EVM addresses and
//! bech32 lower-cased).

/// The chains, as written before the `:` of `CHAIN:ADDRESS`.
pub const CHAINS: &[&str] = &["bitcoin", "ethereum", "tron", "solana", "polygon", "bsc"];

/// The base58 alphabet (Bitcoin's: no `0`, `O`, `I`, `l`).
const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// The bech32 data alphabet (no `1`, `b`, `i`, `o`).
const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// The first character outside `alphabet`, if any.
fn outside(s: &str, alphabet: &[u8]) -> Option<char> {
    s.chars()
        .find(|c| !c.is_ascii() || !alphabet.contains(&(*c as u8)))
}

/// Checks `address` on `chain` (one of [`CHAINS`], any case) and returns it
/// normalised: EVM chains (`ethereum`, `polygon`, `bsc`) `0x` and 40 hex
/// digits, lower-cased; `bitcoin` base58 P2PKH/P2SH (`1`/`3`, 26 to 35
/// characters) or bech32 (`bc1` and 11 to 71 characters, stored
/// lower-case); `tron` `T` and 33 base58 characters; `solana` 32 to 44
/// base58 characters.
pub fn check_wallet(chain: &str, address: &str) -> Result<String, String> {
    let chain = chain.trim().to_ascii_lowercase();
    if !CHAINS.contains(&chain.as_str()) {
        return Err(format!(
            "`{chain}` is not a supported chain: one of {}",
            CHAINS.join(", ")
        ));
    }
    let a = address.trim();
    if a.is_empty() {
        return Err(format!("no {chain} address given"));
    }
    match chain.as_str() {
        "ethereum" | "polygon" | "bsc" => check_evm(&chain, a),
        "bitcoin" => check_bitcoin(a),
        "tron" => check_tron(a),
        // "solana", the last of CHAINS.
        _ => check_solana(a),
    }
}

/// One `CHAIN:ADDRESS` entry, normalised to `chain:address`.
pub fn check_entry(s: &str) -> Result<String, String> {
    let t = s.trim();
    let Some((chain, address)) = t.split_once(':') else {
        return Err(format!(
            "`{t}` is not CHAIN:ADDRESS: give the chain ({}), a colon and the address",
            CHAINS.join(", ")
        ));
    };
    let chain = chain.trim().to_ascii_lowercase();
    let address = check_wallet(&chain, address)?;
    Ok(format!("{chain}:{address}"))
}

fn check_evm(chain: &str, a: &str) -> Result<String, String> {
    let Some(hex) = a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) else {
        return Err(format!(
            "`{a}` is not a {chain} address: it must start with 0x"
        ));
    };
    if hex.len() != 40 {
        return Err(format!(
            "`{a}` is not a {chain} address: 40 hex digits follow 0x, not {}",
            hex.len()
        ));
    }
    if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "`{a}` is not a {chain} address: `{c}` is not a hex digit"
        ));
    }
    Ok(format!("0x{}", hex.to_ascii_lowercase()))
}

fn check_bitcoin(a: &str) -> Result<String, String> {
    let lower = a.to_ascii_lowercase();
    if let Some(data) = lower.strip_prefix("bc1") {
        // Bech32 is all lower or all upper case, never mixed (BIP 173).
        if a != lower && a != a.to_ascii_uppercase() {
            return Err(format!(
                "`{a}` is not a bitcoin address: a bech32 address is not in mixed case"
            ));
        }
        let n = data.chars().count();
        if !(11..=71).contains(&n) {
            return Err(format!(
                "`{a}` is not a bitcoin address: 11 to 71 characters follow bc1, not {n}"
            ));
        }
        if let Some(c) = outside(data, BECH32) {
            return Err(format!(
                "`{a}` is not a bitcoin address: `{c}` is not in the bech32 alphabet"
            ));
        }
        return Ok(lower);
    }
    if !(a.starts_with('1') || a.starts_with('3')) {
        return Err(format!(
            "`{a}` is not a bitcoin address: it must start with 1 or 3 (base58) or bc1 (bech32)"
        ));
    }
    let n = a.chars().count();
    if !(26..=35).contains(&n) {
        return Err(format!(
            "`{a}` is not a bitcoin address: a base58 address has 26 to 35 characters, not {n}"
        ));
    }
    if let Some(c) = outside(a, BASE58) {
        return Err(format!(
            "`{a}` is not a bitcoin address: `{c}` is not in the base58 alphabet"
        ));
    }
    Ok(a.to_owned())
}

fn check_tron(a: &str) -> Result<String, String> {
    let Some(rest) = a.strip_prefix('T') else {
        return Err(format!("`{a}` is not a tron address: it must start with T"));
    };
    if rest.chars().count() != 33 {
        return Err(format!(
            "`{a}` is not a tron address: 33 characters follow T, not {}",
            rest.chars().count()
        ));
    }
    if let Some(c) = outside(rest, BASE58) {
        return Err(format!(
            "`{a}` is not a tron address: `{c}` is not in the base58 alphabet"
        ));
    }
    Ok(a.to_owned())
}

fn check_solana(a: &str) -> Result<String, String> {
    let n = a.chars().count();
    if !(32..=44).contains(&n) {
        return Err(format!(
            "`{a}` is not a solana address: 32 to 44 base58 characters, not {n}"
        ));
    }
    if let Some(c) = outside(a, BASE58) {
        return Err(format!(
            "`{a}` is not a solana address: `{c}` is not in the base58 alphabet"
        ));
    }
    Ok(a.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(chain: &str, a: &str) -> String {
        check_wallet(chain, a).unwrap_err()
    }

    #[test]
    fn evm_chains() {
        let a = "0x52908400098527886E0F7030069857D2E4169EE7";
        for chain in ["ethereum", "polygon", "bsc", "Ethereum"] {
            assert_eq!(
                check_wallet(chain, a).unwrap(),
                "0x52908400098527886e0f7030069857d2e4169ee7"
            );
        }
        assert!(err("ethereum", "52908400098527886E0F7030069857D2E4169EE7")
            .contains("must start with 0x"));
        assert!(err("polygon", "0x5290840009852788").contains("40 hex digits follow 0x, not 16"));
        assert!(err("bsc", "0x52908400098527886E0F7030069857D2E4169EEZ")
            .contains("`Z` is not a hex digit"));
    }

    #[test]
    fn bitcoin() {
        for a in [
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
        ] {
            assert_eq!(check_wallet("bitcoin", a).unwrap(), a);
        }
        let b = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
        assert_eq!(check_wallet("bitcoin", b).unwrap(), b);
        assert_eq!(check_wallet("bitcoin", &b.to_uppercase()).unwrap(), b);
        assert!(err("bitcoin", "bc1qAr0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq").contains("mixed case"));
        // `b` and `o` are not in the bech32 alphabet.
        assert!(err("bitcoin", "bc1qbr0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
            .contains("`b` is not in the bech32 alphabet"));
        assert!(err("bitcoin", "bc1qar0srr").contains("11 to 71 characters follow bc1, not 7"));
        assert!(err("bitcoin", "2A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").contains("start with 1 or 3"));
        assert!(err("bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNaXX")
            .contains("26 to 35 characters, not 36"));
        // `0`, `O`, `I` and `l` are not base58.
        assert!(err("bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7Div0Na")
            .contains("`0` is not in the base58 alphabet"));
    }

    #[test]
    fn tron() {
        let a = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
        assert_eq!(check_wallet("tron", a).unwrap(), a);
        assert!(err("tron", "AR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").contains("start with T"));
        assert!(err("tron", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6")
            .contains("33 characters follow T, not 32"));
        assert!(err("tron", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLjIt")
            .contains("`I` is not in the base58 alphabet"));
    }

    #[test]
    fn solana() {
        let a = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";
        assert_eq!(check_wallet("solana", a).unwrap(), a);
        assert_eq!(
            check_wallet("solana", "11111111111111111111111111111111").unwrap(),
            "11111111111111111111111111111111"
        );
        assert!(err("solana", "9WzDXwBbmkg8ZTbNMq").contains("32 to 44 base58 characters, not 18"));
        assert!(
            err("solana", "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWl")
                .contains("`l` is not in the base58 alphabet")
        );
    }

    #[test]
    fn chains_and_entries() {
        assert!(err("dogecoin", "D8vFz4p1L37jdg47HXKtSHA5uYLYxbGgPD")
            .contains("`dogecoin` is not a supported chain: one of bitcoin, ethereum, tron, solana, polygon, bsc"));
        assert!(err("tron", "  ").contains("no tron address given"));
        assert_eq!(
            check_entry(" ETHEREUM : 0x52908400098527886E0F7030069857D2E4169EE7 ").unwrap(),
            "ethereum:0x52908400098527886e0f7030069857d2e4169ee7"
        );
        assert!(check_entry("0x52908400098527886E0F7030069857D2E4169EE7")
            .unwrap_err()
            .contains("is not CHAIN:ADDRESS"));
        for c in CHAINS {
            assert!(!err(c, "x").contains("not a supported chain"));
        }
    }
}
