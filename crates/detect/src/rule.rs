//! A Sigma rule file, loaded and compiled: its metadata, its logsource and
//! its detection (search identifiers, their values and modifiers, the
//! condition). What this engine cannot run is refused with the file, the
//! line and the feature named ([`RuleError`]), never half-loaded.

use crate::aggregate::{self, Aggregation};
use crate::condition::{self, Cond};
use crate::event::Event;
use crate::value::{Modifiers, Pattern};
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::Node;
use std::collections::HashMap;
use std::fmt;

/// Why a rule cannot be loaded: where, and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {what}")]
pub struct RuleError {
    pub file: String,
    /// 1-based; 0 when the problem has no line (an empty file).
    pub line: usize,
    pub what: String,
}

/// Sigma's `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `logsource`: what kind of log the rule is written for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSource {
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
}

/// A loaded rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub file: String,
    pub title: String,
    pub id: Option<String>,
    pub description: Option<String>,
    pub level: Level,
    pub status: Option<String>,
    pub logsource: LogSource,
    pub tags: Vec<String>,
    /// `detection.timeframe`, as written.
    pub timeframe: Option<String>,
    /// `| count() ...` after the condition, with the timeframe in
    /// nanoseconds: the rule fires on counts, not on each line.
    pub aggregation: Option<(Aggregation, i64)>,
    /// The field names the detection reads (what `detect check` lists).
    pub fields: Vec<String>,
    /// The apps a line must come from (from `logsource.service`); empty: any.
    pub apps: Vec<&'static str>,
    ids: Vec<String>,
    searches: HashMap<String, Search>,
    /// Any of these (a condition written as a list).
    conditions: Vec<Cond>,
}

#[derive(Clone, Debug)]
enum Search {
    /// Values matched anywhere in the line: any of them, or all with `|all`.
    Keywords { patterns: Vec<Pattern>, all: bool },
    /// Any of these maps; in a map, every field.
    Maps(Vec<Vec<FieldMatch>>),
}

#[derive(Clone, Debug)]
struct FieldMatch {
    field: String,
    patterns: Vec<Pattern>,
    all: bool,
}

/// The apps a `logsource.service` is written by (syslog's APP-NAME);
/// services not listed apply to every line.
const SERVICE_APPS: &[(&str, &[&str])] = &[
    ("sshd", &["sshd"]),
    ("cron", &["cron", "crond", "CRON", "anacron"]),
    ("vsftpd", &["vsftpd"]),
    ("clamav", &["clamd", "freshclam", "clamav*"]),
    ("guacamole", &["guacd", "guacamole*"]),
    ("sudo", &["sudo"]),
    ("auth", &["sshd", "sudo", "su", "login", "systemd-logind"]),
];

fn line_of(node: &Node) -> usize {
    node.span().start().map_or(0, |m| m.line())
}

fn scalar_line(s: &MarkedScalarNode) -> usize {
    s.span().start().map_or(0, |m| m.line())
}

struct Loader<'f> {
    file: &'f str,
}

impl Loader<'_> {
    fn err(&self, line: usize, what: impl Into<String>) -> RuleError {
        RuleError {
            file: self.file.to_owned(),
            line,
            what: what.into(),
        }
    }

    fn text(&self, m: &MarkedMappingNode, key: &str) -> Option<String> {
        m.get_scalar(key).map(|s| s.as_str().to_owned())
    }

    fn list(&self, m: &MarkedMappingNode, key: &str) -> Vec<String> {
        m.get_sequence(key)
            .map(|seq| {
                seq.iter()
                    .filter_map(|n| n.as_scalar().map(|s| s.as_str().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn rule(&self, top: &MarkedMappingNode) -> Result<Rule, RuleError> {
        let title = self
            .text(top, "title")
            .ok_or_else(|| self.err(1, "the rule has no `title`"))?;
        let level = match top.get_scalar("level") {
            None => Level::Medium,
            Some(s) => Level::parse(s.as_str()).ok_or_else(|| {
                self.err(
                    scalar_line(s),
                    format!(
                        "level `{}` is not one of informational, low, medium, high, critical",
                        s.as_str()
                    ),
                )
            })?,
        };
        let logsource = match top.get_mapping("logsource") {
            Some(l) => LogSource {
                product: self.text(l, "product"),
                service: self.text(l, "service"),
                category: self.text(l, "category"),
            },
            None => LogSource::default(),
        };
        let apps = logsource
            .service
            .as_deref()
            .and_then(|s| SERVICE_APPS.iter().find(|(name, _)| *name == s))
            .map(|(_, apps)| apps.to_vec())
            .unwrap_or_default();
        let det = top
            .get_mapping("detection")
            .ok_or_else(|| self.err(1, "the rule has no `detection`"))?;
        let mut searches = HashMap::new();
        let mut ids = Vec::new();
        let mut fields = Vec::new();
        let mut cond_node = None;
        let mut timeframe = None;
        for (key, value) in det.iter() {
            match key.as_str() {
                "condition" => cond_node = Some(value),
                "timeframe" => timeframe = value.as_scalar().map(|s| s.as_str().to_owned()),
                id => {
                    let search = self.search(value, &mut fields)?;
                    ids.push(id.to_owned());
                    searches.insert(id.to_owned(), search);
                }
            }
        }
        let det_line = det.span().start().map_or(0, |m| m.line());
        let cond_node =
            cond_node.ok_or_else(|| self.err(det_line, "the detection has no `condition`"))?;
        let texts: Vec<(String, usize)> = match cond_node {
            Node::Scalar(s) => vec![(s.as_str().to_owned(), scalar_line(s))],
            Node::Sequence(seq) => seq
                .iter()
                .filter_map(|n| {
                    n.as_scalar()
                        .map(|s| (s.as_str().to_owned(), scalar_line(s)))
                })
                .collect(),
            Node::Mapping(_) => {
                return Err(self.err(
                    line_of(cond_node),
                    "`condition` must be text or a list of texts",
                ))
            }
        };
        let mut aggregation = None;
        let mut conditions = Vec::new();
        for (t, line) in &texts {
            let (search, agg) = match t.split_once('|') {
                Some((s, a)) => (s, Some(a)),
                None => (t.as_str(), None),
            };
            if let Some(a) = agg {
                if texts.len() > 1 {
                    return Err(self.err(
                        *line,
                        "an aggregation (`| count() ...`) must be the rule's only condition",
                    ));
                }
                let a = Aggregation::parse(a).map_err(|e| self.err(*line, e))?;
                let tf = timeframe.as_deref().ok_or_else(|| {
                    self.err(
                        *line,
                        "an aggregation needs `timeframe` in the detection (the window it counts over)",
                    )
                })?;
                let tf = aggregate::parse_timeframe(tf).map_err(|e| self.err(det_line, e))?;
                for f in a.distinct.iter().chain(a.by.iter()) {
                    fields.push(f.clone());
                }
                aggregation = Some((a, tf));
            }
            conditions.push(
                condition::parse(search, &ids)
                    .map_err(|e| self.err(*line, format!("condition `{t}`: {e}")))?,
            );
        }
        fields.sort();
        fields.dedup();
        Ok(Rule {
            file: self.file.to_owned(),
            title,
            id: self.text(top, "id"),
            description: self.text(top, "description"),
            level,
            status: self.text(top, "status"),
            logsource,
            tags: self.list(top, "tags"),
            timeframe,
            aggregation,
            fields,
            apps,
            ids,
            searches,
            conditions,
        })
    }

    fn search(&self, node: &Node, fields: &mut Vec<String>) -> Result<Search, RuleError> {
        match node {
            Node::Mapping(m) => Ok(Search::Maps(vec![self.map(m, fields)?])),
            Node::Sequence(seq)
                if seq.iter().all(|n| n.as_mapping().is_some()) && !seq.is_empty() =>
            {
                let maps = seq
                    .iter()
                    .map(|n| self.map(n.as_mapping().expect("checked"), fields))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Search::Maps(maps))
            }
            Node::Sequence(seq) => {
                let patterns = seq
                    .iter()
                    .map(|n| self.keyword_node(n))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Search::Keywords {
                    patterns,
                    all: false,
                })
            }
            Node::Scalar(_) => Ok(Search::Keywords {
                patterns: vec![self.keyword_node(node)?],
                all: false,
            }),
        }
    }

    fn keyword_node(&self, n: &Node) -> Result<Pattern, RuleError> {
        let s = n
            .as_scalar()
            .ok_or_else(|| self.err(line_of(n), "a keyword must be a plain value"))?;
        self.keyword(s, &Modifiers::default())
    }

    fn keyword(&self, s: &MarkedScalarNode, m: &Modifiers) -> Result<Pattern, RuleError> {
        // Keywords are searched for anywhere in the line.
        let m = Modifiers {
            contains: !m.re && !m.cidr,
            ..m.clone()
        };
        Pattern::compile(Some(s.as_str()), &m).map_err(|e| self.err(scalar_line(s), e))
    }

    fn map(
        &self,
        m: &MarkedMappingNode,
        fields: &mut Vec<String>,
    ) -> Result<Vec<FieldMatch>, RuleError> {
        let mut out = Vec::new();
        for (key, value) in m.iter() {
            let line = scalar_line(key);
            let mut parts = key.as_str().split('|');
            let field = parts.next().unwrap_or_default().to_owned();
            let mods = Modifiers::parse(parts).map_err(|name| {
                self.err(
                    line,
                    format!(
                        "the modifier `{name}` (in `{}`) is not supported",
                        key.as_str()
                    ),
                )
            })?;
            if (mods.re_i || mods.re_m || mods.re_s) && !mods.re {
                return Err(self.err(line, format!("`{}`: i, m and s go with re", key.as_str())));
            }
            let values: Vec<Option<&MarkedScalarNode>> = match value {
                Node::Scalar(s) => vec![scalar_value(s)],
                Node::Sequence(seq) => seq
                    .iter()
                    .map(|n| {
                        n.as_scalar().map(scalar_value).ok_or_else(|| {
                            self.err(
                                line_of(n),
                                format!("`{}`: a value must be plain", key.as_str()),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
                Node::Mapping(_) => {
                    return Err(self.err(
                        line,
                        format!("`{}`: nested maps are not supported", key.as_str()),
                    ))
                }
            };
            let patterns = values
                .iter()
                .map(|v| {
                    if field.is_empty() {
                        v.map_or(Ok(Pattern::Null), |s| self.keyword(s, &mods))
                    } else {
                        Pattern::compile(v.map(|s| s.as_str()), &mods)
                            .map_err(|e| self.err(v.map_or(line, scalar_line), e))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            if !field.is_empty() {
                fields.push(field.clone());
            }
            out.push(FieldMatch {
                field,
                patterns,
                all: mods.all,
            });
        }
        Ok(out)
    }
}

/// `null`, `~` and an empty value are YAML's null: the field must be absent.
fn scalar_value(s: &MarkedScalarNode) -> Option<&MarkedScalarNode> {
    match s.as_str() {
        "null" | "~" | "" if s.may_coerce() => None,
        _ => Some(s),
    }
}

/// Loads one rule from its text; `file` names it in errors.
pub fn load(file: &str, text: &str) -> Result<Rule, RuleError> {
    let loader = Loader { file };
    let node = marked_yaml::parse_yaml(0, text)
        .map_err(|e| loader.err(yaml_line(&e), format!("not YAML: {e}")))?;
    let top = node
        .as_mapping()
        .ok_or_else(|| loader.err(line_of(&node), "a rule is a YAML mapping"))?;
    loader.rule(top)
}

fn yaml_line(e: &marked_yaml::LoadError) -> usize {
    // The error's text carries its position; the line is what a person needs.
    let s = e.to_string();
    s.split("line ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The tag that names the CERT-In Annexure I kind a rule's incidents are
/// of: `pramaan.kind.unauthorised-access` (the incident desk's codes).
pub const KIND_TAG: &str = "pramaan.kind.";

impl Rule {
    /// The incident kind its tags name (`pramaan.kind.CODE`), unchecked.
    pub fn kind(&self) -> Option<&str> {
        self.tags.iter().find_map(|t| t.strip_prefix(KIND_TAG))
    }

    /// Whether the rule is written for the line's source (`logsource.service`).
    pub fn applies(&self, e: &Event<'_>) -> bool {
        self.apps.is_empty()
            || e.app().is_some_and(|app| {
                self.apps
                    .iter()
                    .any(|p| pramaan_core::zones::glob_match(p, app))
            })
    }

    /// For an aggregation rule, the group a matching line counts in (the
    /// `by` field's first value; empty without `by`) and the value it adds
    /// to a distinct count. `None` when the line has no value for `by`: it
    /// cannot be told apart from other sources, so it counts in no group.
    pub fn group_of(&self, e: &Event<'_>) -> Option<(String, Option<String>)> {
        let (agg, _) = self.aggregation.as_ref()?;
        let first = |f: &str| e.values(f).into_iter().next();
        let group = match agg.by.as_deref() {
            Some(by) => first(by)?,
            None => String::new(),
        };
        Some((group, agg.distinct.as_deref().and_then(first)))
    }

    /// Whether the line matches the rule (for an aggregation rule: its
    /// search, before counting).
    pub fn matches(&self, e: &Event<'_>) -> bool {
        if !self.applies(e) {
            return false;
        }
        // Each search is run at most once per line, whatever the condition.
        let mut memo: Vec<Option<bool>> = vec![None; self.ids.len()];
        let mut value = |id: &str| -> bool {
            let Some(i) = self.ids.iter().position(|x| x == id) else {
                return false;
            };
            *memo[i]
                .get_or_insert_with(|| self.searches.get(id).is_some_and(|s| search_matches(s, e)))
        };
        self.conditions
            .iter()
            .any(|c| c.eval(&self.ids, &mut value))
    }
}

fn search_matches(s: &Search, e: &Event<'_>) -> bool {
    match s {
        Search::Keywords { patterns, all } => {
            let line = [e.line()];
            if *all {
                patterns.iter().all(|p| p.matches(&line))
            } else {
                patterns.iter().any(|p| p.matches(&line))
            }
        }
        Search::Maps(maps) => maps.iter().any(|m| m.iter().all(|f| field_matches(f, e))),
    }
}

fn field_matches(f: &FieldMatch, e: &Event<'_>) -> bool {
    let owned = if f.field.is_empty() {
        vec![e.line().to_owned()]
    } else {
        e.values(&f.field)
    };
    let values: Vec<&str> = owned.iter().map(String::as_str).collect();
    if f.all {
        f.patterns.iter().all(|p| p.matches(&values))
    } else {
        f.patterns.iter().any(|p| p.matches(&values))
    }
}
