//! The trail of funds: from a customer, a wallet or a chain transaction,
//! every transaction touching it in the window, then every transaction
//! touching the customers and wallets those reach, up to `hops` steps.
//! Deposits come from a wallet to a customer, withdrawals go from a customer
//! to a wallet, transfers from a customer to another, trades between the
//! customer and the other side (the order book, `exchange`, when the
//! exchange does not name it; the trail never passes through the book, which
//! would join every trader). A wallet a customer withdrew to that deposited
//! to another customer is how funds leave and come back: the trail follows
//! it. Each customer node lists the IP addresses it used in the trail's
//! transactions.

use crate::model::Kind;
use crate::store::{Store, StoreError, Stored, Touching};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Where a trail starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Customer(String),
    /// A wallet address (as stored: EVM addresses lower-case).
    Wallet(String),
    /// A chain transaction hash.
    Hash(String),
}

/// The trail's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub from_ns: i64,
    pub to_ns: i64,
    pub hops: u32,
    /// Most transactions in the whole trail; more marks it `truncated`.
    pub max_edges: usize,
}

/// A customer, a wallet, or the order book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `customer:ID`, `wallet:CHAIN:ADDRESS`, `exchange`.
    pub id: String,
    pub kind: String,
    pub label: String,
    /// Steps from the start (0: the start).
    pub hop: u32,
    /// The IP addresses this customer used in the trail's transactions.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ips: Vec<String>,
}

/// One transaction as an arrow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub tx: crate::model::Transaction,
    /// The ledger record of the transaction.
    pub seq: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trail {
    pub nodes: Vec<Node>,
    /// In time order.
    pub edges: Vec<Edge>,
    /// The trail reached `max_edges`: it is not whole.
    pub truncated: bool,
}

const BOOK: &str = "exchange";

fn customer(id: &str) -> String {
    format!("customer:{id}")
}

fn wallet(chain: Option<&str>, addr: Option<&str>) -> String {
    format!("wallet:{}:{}", chain.unwrap_or("?"), addr.unwrap_or("?"))
}

/// Where a transaction's funds go: (from, to).
fn ends(t: &crate::model::Transaction) -> (String, String) {
    let c = customer(&t.customer);
    let other = || {
        t.counterparty
            .as_deref()
            .map_or_else(|| BOOK.to_owned(), customer)
    };
    match t.kind {
        Kind::Deposit => (wallet(t.chain.as_deref(), t.from_wallet.as_deref()), c),
        Kind::Withdrawal => (c, wallet(t.chain.as_deref(), t.to_wallet.as_deref())),
        Kind::Transfer | Kind::Trade => (c, other()),
    }
}

/// What to ask the store for a node; `None`: not followed (the book, an
/// unknown wallet).
fn touching(id: &str) -> Option<Touching<'_>> {
    if let Some(c) = id.strip_prefix("customer:") {
        return Some(Touching::Customer(c));
    }
    let rest = id.strip_prefix("wallet:")?;
    let (_, addr) = rest.split_once(':')?;
    (addr != "?").then_some(Touching::Wallet(addr))
}

fn node(id: &str, hop: u32) -> Node {
    let (kind, label) = if let Some(c) = id.strip_prefix("customer:") {
        ("customer", c.to_owned())
    } else if let Some(w) = id.strip_prefix("wallet:") {
        let (chain, addr) = w.split_once(':').unwrap_or(("?", w));
        let addr = if addr == "?" { "unknown sender" } else { addr };
        ("wallet", format!("{addr} ({chain})"))
    } else {
        ("exchange", "the order book".to_owned())
    };
    Node {
        id: id.to_owned(),
        kind: kind.to_owned(),
        label,
        hop,
        ips: Vec::new(),
    }
}

/// The trail as it is walked: parties found, transactions taken, parties
/// still to look at.
struct Walk {
    nodes: BTreeMap<String, Node>,
    edges: BTreeMap<String, Edge>,
    queue: VecDeque<String>,
    max_edges: usize,
    truncated: bool,
}

impl Walk {
    fn reach(&mut self, id: &str, hop: u32) {
        if !self.nodes.contains_key(id) {
            self.nodes.insert(id.to_owned(), node(id, hop));
            self.queue.push_back(id.to_owned());
        }
    }

    /// Takes a transaction, its parties found at `hop`; false once the
    /// trail is at its limit (it is then marked cut).
    fn take(&mut self, s: Stored, hop: u32) -> bool {
        if self.edges.contains_key(&s.tx.id) {
            return true;
        }
        if self.edges.len() >= self.max_edges {
            self.truncated = true;
            return false;
        }
        let (from, to) = ends(&s.tx);
        self.reach(&from, hop);
        self.reach(&to, hop);
        self.edges.insert(
            s.tx.id.clone(),
            Edge {
                from,
                to,
                seq: s.seq,
                tx: s.tx,
            },
        );
        true
    }
}

/// Builds the trail from `start` within `limits`.
pub fn trail(store: &Store, start: &Start, limits: Limits) -> Result<Trail, StoreError> {
    let mut w = Walk {
        nodes: BTreeMap::new(),
        edges: BTreeMap::new(),
        queue: VecDeque::new(),
        max_edges: limits.max_edges,
        truncated: false,
    };
    let (lo, hi) = (limits.from_ns, limits.to_ns);
    // The first step: the start's own transactions (a customer's are found
    // as any party's, from its node).
    let first: Vec<Stored> = match start {
        Start::Customer(c) => {
            w.reach(&customer(c), 0);
            Vec::new()
        }
        Start::Wallet(a) => store.touching(&Touching::Wallet(a), lo, hi, limits.max_edges + 1)?,
        Start::Hash(h) => store.touching(&Touching::Hash(h), lo, hi, limits.max_edges + 1)?,
    };
    for s in first {
        if !w.take(s, 0) {
            break;
        }
    }
    while let Some(id) = w.queue.pop_front() {
        let hop = w.nodes[&id].hop;
        if w.truncated {
            break;
        }
        if hop >= limits.hops {
            continue;
        }
        let Some(t) = touching(&id) else { continue };
        let budget = limits.max_edges.saturating_sub(w.edges.len()) + 1;
        for s in store.touching(&t, lo, hi, budget)? {
            if !w.take(s, hop + 1) {
                break;
            }
        }
    }
    let Walk {
        mut nodes,
        edges,
        truncated,
        ..
    } = w;
    // Each customer's IP addresses, from the transactions they made.
    let mut ips: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in edges.values() {
        if let Some(ip) = &e.tx.ip {
            ips.entry(customer(&e.tx.customer))
                .or_default()
                .insert(ip.clone());
        }
    }
    for (id, set) in ips {
        if let Some(n) = nodes.get_mut(&id) {
            n.ips = set.into_iter().collect();
        }
    }
    let mut edges: Vec<Edge> = edges.into_values().collect();
    edges.sort_by(|a, b| (a.tx.time_ns, &a.tx.id).cmp(&(b.tx.time_ns, &b.tx.id)));
    let mut nodes: Vec<Node> = nodes.into_values().collect();
    nodes.sort_by(|a, b| (a.hop, &a.id).cmp(&(b.hop, &b.id)));
    Ok(Trail {
        nodes,
        edges,
        truncated,
    })
}
