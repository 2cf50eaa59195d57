//! Sigma rules over the vault: loading a directory of rules
//! ([`load_dir`], what `pramaan detect check` reports), and a back-test of
//! one rule over stored lines ([`Test`], `pramaan detect test`).
//!
//! A back-test reads log lines, so it is an analyst's, audited before it
//! runs as a search is (the access table's row). The rule travels as text:
//! the server never opens a path a client names.

use crate::search::search_failed;
use crate::{App, AppError, Caller, Operation};
use pramaan_detect::{Event, Rule, RuleError};
use pramaan_vault::search::{self, Hit, Query};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A rule file and what loading it gave.
pub type Loaded = (PathBuf, Result<Rule, RuleError>);

/// Every rule file under `dir` (`*.yml`, `*.yaml`, recursively, in name
/// order) with what loading it gave. A directory that cannot be read is
/// an error naming it.
pub fn load_dir(dir: &Path) -> Result<Vec<Loaded>, String> {
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    files.sort();
    Ok(files
        .into_iter()
        .map(|f| {
            let name = f.display().to_string();
            let r = std::fs::read_to_string(&f)
                .map_err(|e| RuleError {
                    file: name.clone(),
                    line: 0,
                    what: format!("cannot be read: {e}"),
                })
                .and_then(|text| pramaan_detect::load(&name, &text));
            (f, r)
        })
        .collect())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Most lines a back-test reads unless it says otherwise.
pub const DEFAULT_MAX_LINES: usize = 10_000_000;

/// `POST /api/v1/detect/test`: what one rule would have matched among the
/// lines received in a window.
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Test {
    /// The rule, as the text of its file.
    pub rule: String,
    /// The rule file's name, for errors.
    #[serde(default)]
    pub name: String,
    /// Start of the window (`7d`, `2026-12-01`, RFC 3339...).
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// Matches shown (default 5).
    #[serde(default)]
    pub examples: Option<usize>,
    /// Lines read at most (default [`DEFAULT_MAX_LINES`]).
    #[serde(default)]
    pub max_lines: Option<usize>,
}

/// What a back-test found.
#[derive(Serialize, Deserialize, Debug)]
pub struct TestReport {
    pub title: String,
    pub level: String,
    /// The incident kind its `pramaan.kind.*` tag names.
    pub kind: Option<String>,
    pub lines_read: u64,
    pub matched: u64,
    /// Stopped at `max_lines` before the end of the window.
    pub truncated: bool,
    /// For an aggregation rule: how many times it would have fired (the
    /// matches above count lines of its search), and the groups it fired
    /// for (the first 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firings: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fired_groups: Vec<String>,
    /// Receipt time of the first and the last match.
    pub first_match: Option<String>,
    pub last_match: Option<String>,
    pub examples: Vec<Hit>,
}

impl Operation for Test {
    type Output = TestReport;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/detect/test";

    async fn run(self, app: &App, who: &Caller) -> Result<TestReport, AppError> {
        app.authorise::<Self>(who)?;
        let name = if self.name.is_empty() {
            "rule"
        } else {
            &self.name
        };
        let rule =
            pramaan_detect::load(name, &self.rule).map_err(|e| AppError::Invalid(e.to_string()))?;
        let now = pramaan_core::time::now_ns();
        let time = |what: &str, v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    pramaan_core::time::parse_user_time(s, now)
                        .map_err(|e| AppError::Invalid(format!("{what}: {e}")))
                })
                .transpose()
        };
        let max_lines = self.max_lines.unwrap_or(DEFAULT_MAX_LINES).max(1);
        let q = Query {
            from_ns: time("from", &self.from)?,
            to_ns: time("to", &self.to)?,
            limit: max_lines,
            // Oldest first, as serve reads them: windows slide forward.
            order: pramaan_vault::search::Order::Oldest,
            ..Query::default()
        };
        tracing::info!(user = %who.name, rule = %rule.title, "detect test");
        let wait = app.config().http.request_timeout / 2;
        let mut started = search::search_started(app.vault(), q, wait)
            .await
            .map_err(search_failed)?;
        let mut report = TestReport {
            title: rule.title.clone(),
            level: rule.level.to_string(),
            kind: rule.kind().map(str::to_owned),
            lines_read: 0,
            matched: 0,
            truncated: false,
            firings: rule.aggregation.as_ref().map(|_| 0),
            fired_groups: Vec::new(),
            first_match: None,
            last_match: None,
            examples: Vec::new(),
        };
        let opts = app.vault().options();
        let examples = self.examples.unwrap_or(5);
        let mut windows = rule.aggregation.as_ref().map(|(a, tf)| {
            pramaan_detect::aggregate::Windows::new(a.clone(), *tf, app.config().detect.max_groups)
        });
        let mut judge = |hits: Vec<Hit>| {
            for hit in hits {
                report.lines_read += 1;
                let line = Line::of(&hit, opts);
                let e = line.event();
                if !rule.matches(&e) {
                    continue;
                }
                if let (Some(w), Some((g, v))) = (windows.as_mut(), rule.group_of(&e)) {
                    let seen = pramaan_detect::aggregate::Seen {
                        seq: hit.seq,
                        received_ns: line.received_ns,
                    };
                    let label = crate::detector::group_label(&rule, &g);
                    if let Some(f) = w.observe(&label, v.as_deref(), seen, true) {
                        *report.firings.get_or_insert(0) += 1;
                        if report.fired_groups.len() < 100
                            && !report.fired_groups.contains(&f.group)
                        {
                            report.fired_groups.push(f.group);
                        }
                    }
                }
                {
                    report.matched += 1;
                    report
                        .first_match
                        .get_or_insert_with(|| hit.received_at.clone());
                    report.last_match = Some(hit.received_at.clone());
                    if report.examples.len() < examples {
                        report.examples.push(hit);
                    }
                }
            }
        };
        if let Some(b) = &started.first {
            judge(search::hits(b));
        }
        while let Some(b) = started.rest.recv().await {
            judge(search::hits(&b.map_err(search_failed)?));
        }
        report.truncated = report.lines_read >= max_lines as u64;
        Ok(report)
    }
}

/// `GET /api/v1/detect/detections`: what the rules `serve` runs have
/// detected, newest first.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Detections {
    /// At most this many (default 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A detection as listed.
#[derive(Serialize, Deserialize, Debug)]
pub struct DetectionView {
    #[serde(flatten)]
    pub detection: pramaan_desk::detections::Detection,
    pub first_received: String,
    pub last_received: String,
    pub detected_at: String,
    /// Every matched sequence number, as inclusive runs.
    pub runs: Vec<(u64, u64)>,
}

impl Operation for Detections {
    type Output = Vec<DetectionView>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/detect/detections";

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        let fail = crate::desk::app_error;
        let rows = desk
            .detections(self.limit.unwrap_or(100).clamp(1, 10_000))
            .map_err(fail)?;
        let t = pramaan_core::time::rfc3339_utc;
        rows.into_iter()
            .map(|d| {
                Ok(DetectionView {
                    runs: desk.detection_runs(d.id).map_err(fail)?,
                    first_received: t(d.first_received_ns),
                    last_received: t(d.last_received_ns),
                    detected_at: t(d.detected_at_ns),
                    detection: d,
                })
            })
            .collect()
    }
}

/// A stored line as rules read it: its raw bytes, receipt time and the
/// fields ingest derives from them (`parse_from`, as when it was stored).
pub struct Line {
    pub raw: Vec<u8>,
    pub received_ns: i64,
    pub fields: pramaan_core::ParsedFields,
}

impl Line {
    pub fn of(hit: &Hit, opts: &pramaan_vault::VaultOptions) -> Line {
        use base64::Engine;
        let raw: Vec<u8> = match (&hit.raw, &hit.raw_b64) {
            (Some(s), _) => s.clone().into_bytes(),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        };
        let received_ns = pramaan_core::time::parse_user_time(&hit.received_at, 0).unwrap_or(0);
        let ctx = pramaan_ingest::ParseContext {
            received_at_ns: received_ns,
            default_offset_secs: opts.default_offset_secs,
        };
        let fields = pramaan_ingest::parse_from(&raw, &hit.peer, &ctx, &opts.source_zones);
        Line {
            raw,
            received_ns,
            fields,
        }
    }

    pub fn event(&self) -> Event<'_> {
        Event::new(&self.raw, &self.fields)
    }
}
