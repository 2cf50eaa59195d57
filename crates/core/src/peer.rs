//! Which protocol a record came in by, told by its peer.
//!
//! A record keeps only its raw bytes, its transport and its peer (see
//! [`crate::record`]); everything else is derived from those three, by
//! ingest and again by `verify --deep`. Plain syslog (UDP, TCP, TLS) and
//! NDJSON over HTTP keep the sender's socket address as the peer
//! (`10.0.0.5:40312`). A record that came in by another protocol has a peer
//! of the form `PROTOCOL:ADDRESS` (`loki:10.0.0.5:40312`), so that its raw
//! bytes are decoded by that protocol's grammar. No socket address starts
//! with a letter followed by `:`, so no other listener's record can pass for
//! one of these.

use std::fmt;

/// A protocol whose records name it in their peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    /// RADIUS Accounting-Request, stored by the accounting server.
    Radius,
    /// Elasticsearch `_bulk`: an action line and its document.
    ElasticBulk,
    /// Loki push: a stream's labels and one of its entries.
    Loki,
    /// OTLP/HTTP logs: a resource, a scope and one log record.
    Otlp,
    /// systemd-journal-remote's upload: one journal export entry.
    Journal,
    /// RELP: one syslog message of a frame.
    Relp,
}

impl Via {
    pub const ALL: [Via; 6] = [
        Via::Radius,
        Via::ElasticBulk,
        Via::Loki,
        Via::Otlp,
        Via::Journal,
        Via::Relp,
    ];

    /// The name in the peer (before the `:`) and in metrics' `transport` label.
    pub const fn name(self) -> &'static str {
        match self {
            Via::Radius => "radius",
            Via::ElasticBulk => "es",
            Via::Loki => "loki",
            Via::Otlp => "otlp",
            Via::Journal => "journal",
            Via::Relp => "relp",
        }
    }

    /// The peer of a record that came in by this protocol from `addr`.
    pub fn peer(self, addr: impl fmt::Display) -> String {
        format!("{}:{addr}", self.name())
    }

    /// The protocol a peer names, and the address after it.
    pub fn of(peer: &str) -> Option<(Via, &str)> {
        let (name, rest) = peer.split_once(':')?;
        Via::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .map(|v| (v, rest))
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The sender's address in a peer, without the protocol: `loki:1.2.3.4:5`
/// → `1.2.3.4:5`; a plain socket address or a file as is.
pub fn address(peer: &str) -> &str {
    Via::of(peer).map_or(peer, |(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_name_their_protocol_and_keep_the_address() {
        for v in Via::ALL {
            let p = v.peer("10.0.0.5:40312");
            assert_eq!(Via::of(&p), Some((v, "10.0.0.5:40312")));
            assert_eq!(address(&p), "10.0.0.5:40312");
        }
        assert_eq!(
            Via::of(&Via::Otlp.peer("[::1]:9")),
            Some((Via::Otlp, "[::1]:9"))
        );
        // Socket addresses and files name no protocol.
        for plain in [
            "10.0.0.5:40312",
            "[::1]:514",
            "::1",
            "file:/var/log/x",
            "pramaan:audit",
        ] {
            assert_eq!(Via::of(plain), None, "{plain}");
            assert_eq!(address(plain), plain);
        }
    }
}
