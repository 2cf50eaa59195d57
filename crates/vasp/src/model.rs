//! A VASP's transaction as it is kept: the fields the directions name
//! (time, customer, counterparty, asset, amount, fee, chain, wallet and
//! contract addresses, transaction hash, the customer's IP address and
//! device), and their validation. Pure: no I/O.
//!
//! Kinds, and what each needs besides `id`, `time`, `customer`, `asset`
//! and `amount`:
//!
//! * `deposit`: funds from a wallet on a chain into the customer's account:
//!   `chain`, `tx_hash`, `to_wallet` (the customer's deposit address);
//!   `from_wallet` when known.
//! * `withdrawal`: from the customer's account to a wallet on a chain:
//!   `chain`, `tx_hash`, `to_wallet`.
//! * `transfer`: from the customer to another customer inside the exchange:
//!   `counterparty` (the receiving customer); `received`, when given, must be
//!   `amount` less `fee` (the two sides of one transfer agree).
//! * `trade`: the customer gave `amount` of `asset` and got `counter_amount`
//!   of `counter_asset`; `counterparty` is the other customer, when the
//!   exchange knows it.
//!
//! Amounts are decimal text (`0.015`), never negative or zero, with no more
//! decimals than the asset has. Wallet addresses and transaction hashes are
//! checked for their chain's format (`pramaan_registry::wallet`).

use pramaan_registry::model::check_external_id;
use pramaan_registry::wallet::check_wallet;
use serde::{Deserialize, Serialize};

/// The ledger record's schema name.
pub const SCHEMA: &str = "pramaan.vasp.tx.v1";

/// Assets this build knows, with their decimals (the smallest unit each
/// chain or book uses).
pub const ASSETS: &[(&str, u32)] = &[
    ("BTC", 8),
    ("ETH", 18),
    ("USDT", 6),
    ("USDC", 6),
    ("BNB", 18),
    ("SOL", 9),
    ("TRX", 6),
    ("MATIC", 18),
    ("POL", 18),
    ("XRP", 6),
    ("DOGE", 8),
    ("LTC", 8),
    ("ADA", 6),
    ("DAI", 18),
    ("INR", 2),
];

/// Most decimal digits an amount may have in all.
const MAX_DIGITS: usize = 38;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Deposit,
    Withdrawal,
    Transfer,
    Trade,
}

impl Kind {
    pub const ALL: [(&'static str, Kind); 4] = [
        ("deposit", Kind::Deposit),
        ("withdrawal", Kind::Withdrawal),
        ("transfer", Kind::Transfer),
        ("trade", Kind::Trade),
    ];

    pub fn parse(s: &str) -> Option<Kind> {
        let s = s.trim().to_ascii_lowercase();
        Kind::ALL.iter().find(|(n, _)| *n == s).map(|(_, k)| *k)
    }

    pub fn as_str(self) -> &'static str {
        Kind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(n, _)| n)
    }
}

/// A transaction as a CSV row, a JSON object or an HTTP body gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionInput {
    pub id: Option<String>,
    pub time: Option<String>,
    pub kind: Option<String>,
    pub customer: Option<String>,
    pub asset: Option<String>,
    pub amount: Option<String>,
    pub fee: Option<String>,
    pub chain: Option<String>,
    pub from_wallet: Option<String>,
    pub to_wallet: Option<String>,
    pub contract: Option<String>,
    pub tx_hash: Option<String>,
    pub counterparty: Option<String>,
    pub counter_asset: Option<String>,
    pub counter_amount: Option<String>,
    pub received: Option<String>,
    pub ip: Option<String>,
    pub device: Option<String>,
}

/// The CSV columns, in the order `pramaan vasp` writes them.
pub const CSV_COLUMNS: [&str; 18] = [
    "id",
    "time",
    "kind",
    "customer",
    "asset",
    "amount",
    "fee",
    "chain",
    "from_wallet",
    "to_wallet",
    "contract",
    "tx_hash",
    "counterparty",
    "counter_asset",
    "counter_amount",
    "received",
    "ip",
    "device",
];

impl TransactionInput {
    /// The field of CSV column `name` (one of [`CSV_COLUMNS`]).
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "id" => &mut self.id,
            "time" => &mut self.time,
            "kind" => &mut self.kind,
            "customer" => &mut self.customer,
            "asset" => &mut self.asset,
            "amount" => &mut self.amount,
            "fee" => &mut self.fee,
            "chain" => &mut self.chain,
            "from_wallet" => &mut self.from_wallet,
            "to_wallet" => &mut self.to_wallet,
            "contract" => &mut self.contract,
            "tx_hash" => &mut self.tx_hash,
            "counterparty" => &mut self.counterparty,
            "counter_asset" => &mut self.counter_asset,
            "counter_amount" => &mut self.counter_amount,
            "received" => &mut self.received,
            "ip" => &mut self.ip,
            "device" => &mut self.device,
            _ => return None,
        })
    }
}

/// A validated transaction; its JSON (with [`SCHEMA`]) is the ledger record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub schema: String,
    pub id: String,
    /// RFC 3339, UTC, as normalised.
    pub time: String,
    #[serde(skip)]
    pub time_ns: i64,
    pub kind: Kind,
    pub customer: String,
    pub asset: String,
    /// Normalised decimal text (no leading zeros, no trailing fraction zeros).
    pub amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_wallet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_wallet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counter_asset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counter_amount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// One bad field of one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An asset's decimals, by its symbol (any case).
pub fn decimals(asset: &str) -> Option<u32> {
    ASSETS
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(asset))
        .map(|(_, d)| *d)
}

/// `text` as an amount of an asset with `decimals`: normalised text and the
/// value in the smallest unit.
pub fn parse_amount(text: &str, decimals: u32, zero_ok: bool) -> Result<(String, u128), String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("`{t}` is negative"));
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(format!("`{t}` is not a decimal number like 0.015"));
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > decimals as usize {
        return Err(format!(
            "`{t}` has {} decimals; the asset has {decimals}",
            frac.len()
        ));
    }
    let int = int.trim_start_matches('0');
    if int.len() + decimals as usize > MAX_DIGITS {
        return Err(format!("`{t}` is too large"));
    }
    let units: u128 = format!("{int}{frac:0<width$}", width = decimals as usize)
        .trim_start_matches('0')
        .parse()
        .unwrap_or(0);
    if units == 0 && !zero_ok {
        return Err(format!("`{t}` is zero"));
    }
    let int = if int.is_empty() { "0" } else { int };
    let text = if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    };
    Ok((text, units))
}

/// `units` of an asset with `decimals`, as normalised text.
pub fn format_amount(units: u128, decimals: u32) -> String {
    let s = format!("{units:0>width$}", width = decimals as usize + 1);
    let (int, frac) = s.split_at(s.len() - decimals as usize);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    }
}

/// A chain's transaction hash: EVM chains `0x` and 64 hex digits, bitcoin
/// and tron 64 hex digits, solana a base58 signature (64 bytes: 86 to 88
/// characters). Hex is kept lower-case.
pub fn check_tx_hash(chain: &str, hash: &str) -> Result<String, String> {
    let h = hash.trim();
    let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit());
    match chain {
        "ethereum" | "polygon" | "bsc" => match h.strip_prefix("0x") {
            Some(rest) if hex64(rest) => Ok(h.to_ascii_lowercase()),
            _ => Err(format!(
                "`{h}` is not an {chain} transaction hash (0x and 64 hex digits)"
            )),
        },
        "bitcoin" | "tron" if hex64(h) => Ok(h.to_ascii_lowercase()),
        "bitcoin" | "tron" => Err(format!(
            "`{h}` is not a {chain} transaction id (64 hex digits)"
        )),
        "solana"
            if (86..=88).contains(&h.len())
                && h.bytes().all(|c| {
                    c.is_ascii_alphanumeric() && !matches!(c, b'0' | b'O' | b'I' | b'l')
                }) =>
        {
            Ok(h.to_owned())
        }
        "solana" => Err(format!(
            "`{h}` is not a solana signature (86 to 88 base58 characters)"
        )),
        other => Err(format!("unknown chain `{other}`")),
    }
}

/// The time of a transaction: RFC 3339 with an offset.
fn instant(s: &str) -> Result<(String, i64), String> {
    let t: jiff::Timestamp = s.trim().parse().map_err(|_| {
        format!(
            "`{}` is not a time: give RFC 3339 with a zone, like 2026-03-03T14:02:11+05:30",
            s.trim()
        )
    })?;
    let ns = i64::try_from(t.as_nanosecond()).map_err(|_| format!("`{s}` is out of range"))?;
    Ok((t.to_string(), ns))
}

struct Checker {
    errs: Vec<FieldError>,
}

impl Checker {
    fn bad(&mut self, field: &'static str, reason: impl Into<String>) {
        self.errs.push(FieldError {
            field,
            reason: reason.into(),
        });
    }

    /// An id (the exchange's, a customer's): `required` says why when missing.
    fn id(
        &mut self,
        field: &'static str,
        v: &Option<String>,
        required: Option<&str>,
    ) -> Option<String> {
        match given(v).map(check_external_id) {
            Some(Ok(id)) => Some(id),
            Some(Err(e)) => {
                self.bad(field, e);
                None
            }
            None => {
                if let Some(why) = required {
                    self.bad(field, format!("missing: {why}"));
                }
                None
            }
        }
    }

    fn asset(&mut self, field: &'static str, v: &Option<String>) -> Option<(String, u32)> {
        let a = given(v)?;
        match decimals(a) {
            Some(d) => Some((a.to_ascii_uppercase(), d)),
            None => {
                let known: Vec<&str> = ASSETS.iter().map(|(a, _)| *a).collect();
                self.bad(
                    field,
                    format!("unknown asset `{a}` (known: {})", known.join(", ")),
                );
                None
            }
        }
    }

    fn amount(
        &mut self,
        field: &'static str,
        v: &Option<String>,
        d: Option<u32>,
        zero_ok: bool,
    ) -> Option<(String, u128)> {
        let (text, d) = (given(v)?, d?);
        parse_amount(text, d, zero_ok)
            .map_err(|e| self.bad(field, e))
            .ok()
    }

    fn wallet(
        &mut self,
        field: &'static str,
        v: &Option<String>,
        chain: Option<&str>,
    ) -> Option<String> {
        let a = given(v)?;
        match chain {
            Some(c) => check_wallet(c, a).map_err(|e| self.bad(field, e)).ok(),
            None => {
                self.bad(field, "a wallet address needs its `chain`");
                None
            }
        }
    }

    fn need(&mut self, field: &'static str, v: &Option<String>, why: &str) {
        if given(v).is_none() {
            self.bad(field, format!("missing: a {why} needs it"));
        }
    }
}

impl TransactionInput {
    /// Checks every field; the transaction, or every problem found.
    pub fn validate(&self) -> Result<Transaction, Vec<FieldError>> {
        let mut c = Checker { errs: Vec::new() };
        let id = c.id(
            "id",
            &self.id,
            Some("every transaction needs the exchange's own id"),
        );
        let time = match given(&self.time).map(instant) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                c.bad("time", e);
                None
            }
            None => {
                c.bad("time", "missing");
                None
            }
        };
        let kind = match given(&self.kind) {
            Some(k) => Kind::parse(k).or_else(|| {
                c.bad(
                    "kind",
                    format!("`{k}`; expected deposit, withdrawal, transfer or trade"),
                );
                None
            }),
            None => {
                c.bad("kind", "missing");
                None
            }
        };
        let customer = c.id(
            "customer",
            &self.customer,
            Some("the customer's id in the register"),
        );
        let asset = c.asset("asset", &self.asset);
        if given(&self.asset).is_none() {
            c.bad("asset", "missing");
        }
        let dec = asset.as_ref().map(|(_, d)| *d);
        let amount = c.amount("amount", &self.amount, dec, false);
        if given(&self.amount).is_none() {
            c.bad("amount", "missing");
        }
        let fee = c.amount("fee", &self.fee, dec, true);
        let received = c.amount("received", &self.received, dec, false);
        let counter_asset = c.asset("counter_asset", &self.counter_asset);
        let counter_amount = c.amount(
            "counter_amount",
            &self.counter_amount,
            counter_asset.as_ref().map(|(_, d)| *d),
            false,
        );
        let chains = pramaan_registry::wallet::CHAINS;
        let chain = given(&self.chain).map(|ch| ch.to_ascii_lowercase());
        if let Some(ch) = chain.as_deref().filter(|ch| !chains.contains(ch)) {
            c.bad(
                "chain",
                format!("unknown chain `{ch}` (known: {})", chains.join(", ")),
            );
        }
        let chain_ok = chain.as_deref().filter(|ch| chains.contains(ch));
        let from_wallet = c.wallet("from_wallet", &self.from_wallet, chain_ok);
        let to_wallet = c.wallet("to_wallet", &self.to_wallet, chain_ok);
        let contract = c.wallet("contract", &self.contract, chain_ok);
        let tx_hash = given(&self.tx_hash).and_then(|h| match chain_ok {
            Some(ch) => check_tx_hash(ch, h).map_err(|e| c.bad("tx_hash", e)).ok(),
            None => {
                c.bad("tx_hash", "a transaction hash needs its `chain`");
                None
            }
        });
        let counterparty = c.id("counterparty", &self.counterparty, None);
        let ip = given(&self.ip).and_then(|ip| match ip.parse::<std::net::IpAddr>() {
            Ok(a) => Some(a.to_string()),
            Err(_) => {
                c.bad("ip", format!("`{ip}` is not an IPv4 or IPv6 address"));
                None
            }
        });
        let device = given(&self.device).and_then(|d| {
            if d.len() > 512 || d.chars().any(char::is_control) {
                c.bad(
                    "device",
                    "longer than 512 bytes or holds a control character",
                );
                None
            } else {
                Some(d.to_owned())
            }
        });
        // What each kind needs, and what only some kinds have.
        match kind {
            Some(k @ (Kind::Deposit | Kind::Withdrawal)) => {
                c.need("chain", &self.chain, k.as_str());
                c.need("tx_hash", &self.tx_hash, k.as_str());
                c.need("to_wallet", &self.to_wallet, k.as_str());
            }
            Some(Kind::Transfer) => {
                c.need("counterparty", &self.counterparty, "transfer");
                if counterparty.is_some() && counterparty == customer {
                    c.bad("counterparty", "a transfer goes to another customer");
                }
            }
            Some(Kind::Trade) => {
                c.need("counter_asset", &self.counter_asset, "trade");
                c.need("counter_amount", &self.counter_amount, "trade");
            }
            None => {}
        }
        if kind != Some(Kind::Trade) {
            for (f, v) in [
                ("counter_asset", &self.counter_asset),
                ("counter_amount", &self.counter_amount),
            ] {
                if given(v).is_some() {
                    c.bad(f, "only a trade has one");
                }
            }
        }
        if kind != Some(Kind::Transfer) && given(&self.received).is_some() {
            c.bad("received", "only a transfer has one");
        }
        // The two sides of a transfer: what arrived is what left, less the fee.
        if let (Some((_, sent)), Some((_, got)), Some(d)) = (&amount, &received, dec) {
            let fee_units = fee.as_ref().map_or(0, |(_, f)| *f);
            let expected = sent.checked_sub(fee_units);
            if expected != Some(*got) {
                let expected =
                    expected.map_or_else(|| "less than nothing".into(), |e| format_amount(e, d));
                c.bad(
                    "received",
                    format!(
                        "the two sides disagree: {} sent less a fee of {} is {expected}, but {} was received",
                        format_amount(*sent, d),
                        format_amount(fee_units, d),
                        format_amount(*got, d)
                    ),
                );
            }
        }
        match (id, time, kind, customer, asset, amount) {
            (
                Some(id),
                Some((time, time_ns)),
                Some(kind),
                Some(customer),
                Some((asset, _)),
                Some((amount, _)),
            ) if c.errs.is_empty() => Ok(Transaction {
                schema: SCHEMA.into(),
                id,
                time,
                time_ns,
                kind,
                customer,
                asset,
                amount,
                fee: fee.map(|(t, _)| t),
                chain,
                from_wallet,
                to_wallet,
                contract,
                tx_hash,
                counterparty,
                counter_asset: counter_asset.map(|(a, _)| a),
                counter_amount: counter_amount.map(|(t, _)| t),
                ip,
                device,
            }),
            _ => Err(c.errs),
        }
    }
}

impl Transaction {
    /// The ledger record: the transaction's JSON, fields in a fixed order.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a transaction serializes")
    }

    /// A transaction from its ledger record.
    pub fn from_body(body: &[u8]) -> Result<Transaction, String> {
        let mut t: Transaction = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        t.time_ns = instant(&t.time)?.1;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETH_TX: &str = "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060";
    const ETH_WALLET: &str = "0x742d35cc6634c0532925a3b844bc454e4438f44e";

    fn deposit() -> TransactionInput {
        TransactionInput {
            id: Some("T-1".into()),
            time: Some("2026-03-03T14:02:11+05:30".into()),
            kind: Some("deposit".into()),
            customer: Some("C-1".into()),
            asset: Some("eth".into()),
            amount: Some("1.500".into()),
            chain: Some("ethereum".into()),
            tx_hash: Some(ETH_TX.to_uppercase().replace("0X", "0x")),
            to_wallet: Some(ETH_WALLET.into()),
            ip: Some("203.0.113.7".into()),
            ..Default::default()
        }
    }

    fn errors(i: &TransactionInput) -> String {
        i.validate()
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn a_deposit_is_normalised_and_round_trips_through_its_record() {
        let t = deposit().validate().unwrap();
        assert_eq!(t.asset, "ETH");
        assert_eq!(t.amount, "1.5");
        assert_eq!(t.time, "2026-03-03T08:32:11Z");
        assert_eq!(t.tx_hash.as_deref(), Some(ETH_TX));
        assert_eq!(Transaction::from_body(&t.body()).unwrap(), t);
        assert!(String::from_utf8(t.body())
            .unwrap()
            .starts_with(r#"{"schema":"pramaan.vasp.tx.v1","id":"T-1""#));
    }

    #[test]
    fn bad_input_is_named_field_by_field() {
        for (change, says) in [
            (
                TransactionInput {
                    amount: Some("1.0000000000000000001".into()),
                    ..deposit()
                },
                "amount: `1.0000000000000000001` has 19 decimals; the asset has 18",
            ),
            (
                TransactionInput {
                    amount: Some("-2".into()),
                    ..deposit()
                },
                "amount: `-2` is negative",
            ),
            (
                TransactionInput {
                    amount: Some("0.000".into()),
                    ..deposit()
                },
                "amount: `0.000` is zero",
            ),
            (
                TransactionInput {
                    asset: Some("FOO".into()),
                    ..deposit()
                },
                "asset: unknown asset `FOO`",
            ),
            (
                TransactionInput {
                    tx_hash: Some("0x1234".into()),
                    ..deposit()
                },
                "tx_hash: `0x1234` is not an ethereum transaction hash",
            ),
            (
                TransactionInput {
                    chain: Some("bitcoin".into()),
                    ..deposit()
                },
                "tx_hash: `0x5C50",
            ),
            (
                TransactionInput {
                    tx_hash: None,
                    ..deposit()
                },
                "tx_hash: missing: a deposit needs it",
            ),
            (
                TransactionInput {
                    ip: Some("1.2.3".into()),
                    ..deposit()
                },
                "ip: `1.2.3` is not an IPv4 or IPv6 address",
            ),
            (
                TransactionInput {
                    time: Some("2026-03-03 14:02".into()),
                    ..deposit()
                },
                "time: `2026-03-03 14:02` is not a time",
            ),
            (
                TransactionInput {
                    kind: Some("gift".into()),
                    ..deposit()
                },
                "kind: `gift`; expected",
            ),
            (
                TransactionInput {
                    counter_amount: Some("1".into()),
                    ..deposit()
                },
                "counter_amount: only a trade has one",
            ),
        ] {
            let e = errors(&change);
            assert!(e.contains(says), "{says}\n  got: {e}");
        }
    }

    #[test]
    fn the_two_sides_of_a_transfer_must_agree() {
        let transfer = TransactionInput {
            id: Some("T-2".into()),
            time: Some("2026-03-03T09:00:00Z".into()),
            kind: Some("transfer".into()),
            customer: Some("C-1".into()),
            counterparty: Some("C-2".into()),
            asset: Some("BTC".into()),
            amount: Some("1.5".into()),
            fee: Some("0.0001".into()),
            received: Some("1.4999".into()),
            ..Default::default()
        };
        assert!(transfer.validate().is_ok());
        let e = errors(&TransactionInput {
            received: Some("1.4".into()),
            ..transfer.clone()
        });
        assert!(e.contains("received: the two sides disagree: 1.5 sent less a fee of 0.0001 is 1.4999, but 1.4 was received"), "{e}");
        let e = errors(&TransactionInput {
            counterparty: Some("C-1".into()),
            ..transfer.clone()
        });
        assert!(e.contains("another customer"), "{e}");
        let e = errors(&TransactionInput {
            counterparty: None,
            ..transfer
        });
        assert!(
            e.contains("counterparty: missing: a transfer needs it"),
            "{e}"
        );
    }

    #[test]
    fn amounts_keep_their_value_exactly() {
        assert_eq!(
            parse_amount("0001.2300", 8, false),
            Ok(("1.23".into(), 123_000_000))
        );
        assert_eq!(parse_amount(".5", 2, false), Ok(("0.5".into(), 50)));
        assert_eq!(parse_amount("7", 0, false), Ok(("7".into(), 7)));
        assert!(parse_amount("1e5", 8, false).is_err());
        assert!(parse_amount(".", 8, false).is_err());
        assert!(parse_amount("1000000000000000000000000000000000000", 18, false).is_err());
        assert_eq!(format_amount(123_000_000, 8), "1.23");
        assert_eq!(format_amount(5, 8), "0.00000005");
        assert_eq!(format_amount(0, 2), "0");
    }

    proptest::proptest! {
        #[test]
        fn an_amount_formats_back_to_what_it_parses_to(units in 1u128..u128::MAX / 1000, d in 0u32..19) {
            let units = units % 10u128.pow(MAX_DIGITS as u32 - d - 1) + 1;
            let text = format_amount(units, d);
            proptest::prop_assert_eq!(parse_amount(&text, d, false), Ok((text.clone(), units)));
        }
    }
}
