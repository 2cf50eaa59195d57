//! The host's own synchronisation state, from chrony: `chronyc -c tracking`
//! (CSV), parsed here with no I/O, and run by [`host_sync`].
//!
//! The kernel's adjtimex(2) would need `unsafe` (the workspace forbids it)
//! and no maintained safe crate exposes it, so without chronyc the state is
//! "unknown (chronyc not found)".

use serde::{Deserialize, Serialize};

/// What `chronyc -c tracking` says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tracking {
    /// Reference id, 8 hex digits (`7F7F0101` is chrony's local clock).
    pub ref_id: String,
    /// The reference's name or address (may be empty).
    pub reference: String,
    pub stratum: u8,
    /// chrony's "System time" field: how far the system clock is from
    /// chrony's estimate of true time, in seconds.
    pub system_time_s: f64,
    pub last_offset_s: f64,
    pub rms_offset_s: f64,
    pub frequency_ppm: f64,
    pub skew_ppm: f64,
    pub root_delay_s: f64,
    pub root_dispersion_s: f64,
    pub update_interval_s: f64,
    /// `Normal`, `Insert second`, `Delete second`, `Not synchronised`.
    pub leap_status: String,
}

impl Tracking {
    pub fn synchronised(&self) -> bool {
        self.leap_status != "Not synchronised" && self.ref_id != "00000000" && self.stratum < 16
    }

    /// chrony's documented bound on the clock's error:
    /// |system time| + root dispersion + root delay / 2, in seconds.
    pub fn estimated_error_s(&self) -> f64 {
        self.system_time_s.abs() + self.root_dispersion_s + self.root_delay_s / 2.0
    }

    /// The reference as people read it: name, else the id as an IPv4 address.
    pub fn reference_text(&self) -> String {
        if !self.reference.is_empty() {
            return self.reference.clone();
        }
        match u32::from_str_radix(&self.ref_id, 16) {
            Ok(0x7F7F_0101) => "127.127.1.1 (chrony's local clock)".into(),
            Ok(v) => std::net::Ipv4Addr::from(v).to_string(),
            Err(_) => self.ref_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingError {
    #[error("chronyc tracking CSV has {found} fields, expected 14: {line:?}")]
    Fields { found: usize, line: String },
    #[error("chronyc tracking CSV field {index} ({name}) is {value:?}, not a number")]
    Number {
        index: usize,
        name: &'static str,
        value: String,
    },
    #[error("chronyc tracking printed nothing")]
    Empty,
}

const NAMES: [&str; 14] = [
    "ref_id",
    "reference",
    "stratum",
    "ref_time",
    "system_time",
    "last_offset",
    "rms_offset",
    "frequency",
    "residual_frequency",
    "skew",
    "root_delay",
    "root_dispersion",
    "update_interval",
    "leap_status",
];

/// Parses the first line of `chronyc -c tracking`.
pub fn parse_tracking(out: &str) -> Result<Tracking, TrackingError> {
    let line = out.lines().next().ok_or(TrackingError::Empty)?.trim();
    if line.is_empty() {
        return Err(TrackingError::Empty);
    }
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != NAMES.len() {
        return Err(TrackingError::Fields {
            found: f.len(),
            line: line.chars().take(200).collect(),
        });
    }
    let num = |i: usize| -> Result<f64, TrackingError> {
        f[i].trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| TrackingError::Number {
                index: i,
                name: NAMES[i],
                value: f[i].chars().take(40).collect(),
            })
    };
    let stratum = f[2]
        .trim()
        .parse::<u8>()
        .map_err(|_| TrackingError::Number {
            index: 2,
            name: NAMES[2],
            value: f[2].chars().take(40).collect(),
        })?;
    num(3)?;
    num(8)?;
    Ok(Tracking {
        ref_id: f[0].trim().to_ascii_uppercase(),
        reference: f[1].trim().to_owned(),
        stratum,
        system_time_s: num(4)?,
        last_offset_s: num(5)?,
        rms_offset_s: num(6)?,
        frequency_ppm: num(7)?,
        skew_ppm: num(9)?,
        root_delay_s: num(10)?,
        root_dispersion_s: num(11)?,
        update_interval_s: num(12)?,
        leap_status: f[13].trim().to_owned(),
    })
}

/// The host's state as reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum HostSync {
    /// chronyc answered.
    Chrony {
        synchronised: bool,
        reference: String,
        stratum: u8,
        estimated_error_ms: f64,
        tracking: Tracking,
    },
    /// No answer: why (`chronyc not found`, chronyd not running, bad output).
    Unknown { reason: String },
}

impl HostSync {
    pub fn from_tracking(t: Tracking) -> HostSync {
        HostSync::Chrony {
            synchronised: t.synchronised(),
            reference: t.reference_text(),
            stratum: t.stratum,
            estimated_error_ms: t.estimated_error_s() * 1000.0,
            tracking: t,
        }
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        match self {
            HostSync::Chrony {
                synchronised,
                reference,
                stratum,
                estimated_error_ms,
                ..
            } => format!(
                "{} to {reference} (stratum {stratum}), estimated error ±{estimated_error_ms:.3} ms (chrony)",
                if *synchronised {
                    "synchronised"
                } else {
                    "NOT synchronised"
                }
            ),
            HostSync::Unknown { reason } => format!("unknown ({reason})"),
        }
    }

    pub fn state_name(&self) -> &'static str {
        match self {
            HostSync::Chrony {
                synchronised: true, ..
            } => "synchronised",
            HostSync::Chrony { .. } => "unsynchronised",
            HostSync::Unknown { .. } => "unknown",
        }
    }
}

#[cfg(feature = "monitor")]
/// Runs `chronyc [-h socket] -c -n tracking` (up to `timeout`) and reads it.
/// `chronyc` is the program to run (a path or a name looked up in PATH);
/// `socket` is chronyd's command socket when it is not the default.
pub async fn host_sync(
    chronyc: &str,
    socket: Option<&str>,
    timeout: std::time::Duration,
) -> HostSync {
    let mut cmd = tokio::process::Command::new(chronyc);
    if let Some(s) = socket {
        cmd.arg("-h").arg(s);
    }
    cmd.args(["-c", "-n", "tracking"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => {
            return HostSync::Unknown {
                reason: format!("chronyc did not answer within {timeout:?}"),
            }
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return HostSync::Unknown {
                reason: "chronyc not found".into(),
            }
        }
        Ok(Err(e)) => {
            return HostSync::Unknown {
                reason: format!("cannot run chronyc: {e}"),
            }
        }
        Ok(Ok(o)) => o,
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let msg = err.trim();
        return HostSync::Unknown {
            reason: format!(
                "chronyc failed: {}",
                if msg.is_empty() {
                    out.status.to_string()
                } else {
                    msg.chars().take(200).collect()
                }
            ),
        };
    }
    match parse_tracking(&String::from_utf8_lossy(&out.stdout)) {
        Ok(t) => HostSync::from_tracking(t),
        Err(e) => HostSync::Unknown {
            reason: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real output of chronyc 4.3 against chronyd with `local stratum 8`.
    const LOCAL: &str = "7F7F0101,,8,1795825379.381964220,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,0.000000000,0.000000000,0.0,Normal\n";

    #[test]
    fn parses_real_output() {
        let t = parse_tracking(LOCAL).unwrap();
        assert_eq!(t.ref_id, "7F7F0101");
        assert_eq!(t.stratum, 8);
        assert!(t.synchronised());
        assert_eq!(t.estimated_error_s(), 0.0);
        assert_eq!(t.reference_text(), "127.127.1.1 (chrony's local clock)");
    }

    #[test]
    fn synchronised_to_a_server_and_not() {
        let t = parse_tracking("A29FC87B,162.159.200.123,4,1795825379.38,-0.000012000,0.000003,0.00001,-12.5,0.001,0.05,0.010000000,0.002000000,64.5,Normal").unwrap();
        assert!(t.synchronised());
        assert_eq!(t.reference_text(), "162.159.200.123");
        let e = t.estimated_error_s();
        assert!((e - (0.000012 + 0.002 + 0.005)).abs() < 1e-12, "{e}");
        let u = parse_tracking("00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised").unwrap();
        assert!(!u.synchronised());
        assert_eq!(HostSync::from_tracking(u).state_name(), "unsynchronised");
    }

    #[test]
    fn bad_output_says_what() {
        assert_eq!(parse_tracking(""), Err(TrackingError::Empty));
        assert!(matches!(
            parse_tracking("a,b,c"),
            Err(TrackingError::Fields { found: 3, .. })
        ));
        let bad = LOCAL.replace(",8,", ",x,");
        assert!(matches!(
            parse_tracking(&bad),
            Err(TrackingError::Number { index: 2, .. })
        ));
        let bad = LOCAL.replace("0.000000000,0.000000000,0.0,", "0.000000000,NaN,0.0,");
        assert!(matches!(
            parse_tracking(&bad),
            Err(TrackingError::Number { index: 11, .. })
        ));
    }

    #[cfg(feature = "monitor")]
    #[tokio::test]
    async fn missing_chronyc() {
        let h = host_sync(
            "/nonexistent/chronyc",
            None,
            std::time::Duration::from_secs(2),
        )
        .await;
        assert_eq!(
            h,
            HostSync::Unknown {
                reason: "chronyc not found".into()
            }
        );
        assert_eq!(h.summary(), "unknown (chronyc not found)");
    }
}
