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

/// Builds the trail from `start` within `limits`.
pub fn trail(store: &Store, start: &Start, limits: Limits) -> Result<Trail, StoreError> {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut edges: BTreeMap<String, Edge> = BTreeMap::new();
    let mut queue: VecDeque<String> = VecDeque::new();
    let mut truncated = false;
    let (lo, hi) = (limits.from_ns, limits.to_ns);
    // The first step: the start's own transactions.
    let first: Vec<Stored> = match start {
        Start::Customer(c) => {
            nodes.insert(customer(c), node(&customer(c), 0));
            queue.push_back(customer(c));
            Vec::new()
        }
        Start::Wallet(w) => store.touching(&Touching::Wallet(w), lo, hi, limits.max_edges + 1)?,
        Start::Hash(h) => store.touching(&Touching::Hash(h), lo, hi, limits.max_edges + 1)?,
    };
    for s in first {
        let (from, to) = ends(&s.tx);
        for n in [&from, &to] {
            if !nodes.contains_key(n) {
                nodes.insert(n.clone(), node(n, 0));
                queue.push_back(n.clone());
            }
        }
        edges.insert(
            s.tx.id.clone(),
            Edge {
                from,
                to,
                seq: s.seq,
                tx: s.tx,
            },
        );
    }
    while let Some(id) = queue.pop_front() {
        if truncated {
            break;
        }
        let hop = nodes[&id].hop;
        if hop >= limits.hops {
            continue;
        }
        let Some(t) = touching(&id) else { continue };
        let budget = limits.max_edges.saturating_sub(edges.len()) + 1;
        let found = store.touching(&t, lo, hi, budget)?;
        for s in found {
            if edges.contains_key(&s.tx.id) {
                continue;
            }
            if edges.len() >= limits.max_edges {
                truncated = true;
                break;
            }
            let (from, to) = ends(&s.tx);
            for n in [&from, &to] {
                if !nodes.contains_key(n) {
                    nodes.insert(n.clone(), node(n, hop + 1));
                    queue.push_back(n.clone());
                }
            }
            edges.insert(
                s.tx.id.clone(),
                Edge {
                    from,
                    to,
                    seq: s.seq,
                    tx: s.tx,
                },
            );
        }
    }
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
