//! Reports rendered from editable templates (MiniJinja: `{{ incident.title }}`,
//! `{% for s in incident.systems %}...{% endfor %}`). The shipped defaults
//! follow the fields of CERT-In's incident reporting form; `desk.template_text`
//! and `desk.template_html` point to custom ones. Every placeholder is listed
//! in [`PLACEHOLDERS`] (and in docs/incident-report.md); a template that uses
//! any other is refused when loaded, naming it, and a missing field inside a
//! loop is an error at rendering (strict undefined values), never a blank.

use crate::export::Export;
use crate::model::{Excerpt, Incident, PocRecord, TimeView};
use crate::DeskError;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;
use std::path::Path;

/// The shipped plain-text template.
pub const DEFAULT_TEXT: &str = include_str!("../templates/report.txt.j2");
/// The shipped HTML template.
pub const DEFAULT_HTML: &str = include_str!("../templates/report.html.j2");

const TEXT: &str = "report.txt";
const HTML: &str = "report.html";

/// Every placeholder a template may use, with its meaning. `a[].b` is the
/// field `b` of each item of the list `a` (inside `{% for x in a %}` as `x.b`).
/// A time (`...at`, `deadline`) has `.ist` ("2026-03-03 14:02:11.000 IST
/// (08:32:11.000 UTC)") and `.utc` (RFC 3339).
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "report.kind",
        "`initial` for the first report, `follow-up` for the ones after it",
    ),
    (
        "report.number",
        "0 for the first report, 1, 2, ... for follow-ups",
    ),
    ("report.subject", "the e-mail subject"),
    (
        "report.first_subject",
        "the first report's subject (for follow-ups; else the same as report.subject)",
    ),
    (
        "report.first_message_id",
        "the first report's Message-ID (for follow-ups; else empty)",
    ),
    ("report.to", "where the report is sent (desk.report_to)"),
    (
        "report.generated_at",
        "when the report was rendered (a time)",
    ),
    (
        "organisation",
        "the reporting organisation (node.organisation)",
    ),
    ("incident.id", "the incident's number"),
    ("incident.title", "its title"),
    ("incident.state", "open, reported, updated or closed"),
    ("incident.kinds", "the Annexure I kinds (a list)"),
    (
        "incident.kinds[].code",
        "a kind's stable code (data-breach)",
    ),
    (
        "incident.kinds[].number",
        "its number in Annexure I, 1 to 20",
    ),
    (
        "incident.kinds[].roman",
        "its numbering in Annexure I, i to xx",
    ),
    ("incident.kinds[].wording", "the official wording"),
    (
        "incident.occurred_at",
        "when the incident happened (a time; .ist is \"not known\" when not given)",
    ),
    ("incident.detected_at", "when it was detected (a time)"),
    (
        "incident.notified_at",
        "when the organisation was told of it (a time; .ist is \"not notified\" when not given)",
    ),
    (
        "incident.clock_start",
        "the earlier of detection and notification (a time)",
    ),
    ("incident.deadline", "clock start + 6 hours (a time)"),
    (
        "incident.clock",
        "where the clock stands: \"3 h 12 min left\", \"OVERDUE by ...\", \"reported in time ...\"",
    ),
    (
        "incident.overdue",
        "true when not reported and past the deadline",
    ),
    ("incident.systems", "the affected systems (a list)"),
    ("incident.systems[].ip", "a system's IP address(es)"),
    ("incident.systems[].hostname", "its host name"),
    ("incident.systems[].os", "its operating system"),
    ("incident.systems[].function", "what it does"),
    ("incident.systems[].location", "where it is"),
    ("incident.symptoms", "symptoms observed"),
    ("incident.description", "description of the incident"),
    ("incident.scope_impact", "scope and impact"),
    ("incident.iocs", "indicators of compromise"),
    ("incident.actions_taken", "actions taken so far"),
    ("incident.security_systems", "security systems deployed"),
    ("incident.other_info", "any other information"),
    ("incident.created_by", "who recorded the incident"),
    ("poc.name", "the point of contact's name"),
    ("poc.designation", "designation"),
    ("poc.organisation", "organisation"),
    ("poc.address", "postal address"),
    ("poc.email", "e-mail (copied on the report)"),
    ("poc.mobile", "mobile number"),
    ("poc.office_phone", "office telephone"),
    (
        "logs.file",
        "the attached NDJSON file's name (empty when no logs are attached)",
    ),
    ("logs.manifest", "the attached manifest's name"),
    ("logs.records", "how many log records are attached"),
    ("logs.sha256", "the NDJSON file's SHA-256 (hex)"),
    (
        "logs.seq_min",
        "the lowest sequence number attached (empty when none)",
    ),
    ("logs.seq_max", "the highest sequence number attached"),
    (
        "logs.excerpts",
        "the searches that chose the lines (a list)",
    ),
    ("logs.excerpts[].name", "an excerpt's name"),
    ("logs.excerpts[].query", "the search, as given"),
    ("logs.excerpts[].records", "how many lines it found"),
];

/// Names a template may use that are not data: MiniJinja's own functions.
const BUILTINS: &[&str] = &["loop", "range", "dict", "namespace", "debug", "caller"];

fn allowed(name: &str) -> bool {
    if BUILTINS.contains(&name) {
        return true;
    }
    PLACEHOLDERS.iter().any(|(p, doc)| {
        let p = p.split("[]").next().unwrap_or(p);
        p == name
            || p.starts_with(&format!("{name}."))
            || (doc.contains("a time")
                && [".ist", ".utc"].iter().any(|s| format!("{p}{s}") == name))
    })
}

/// The loaded templates, checked.
pub struct Templates {
    env: Environment<'static>,
}

/// A report, rendered.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Templates {
    /// The shipped templates, or the files given.
    pub fn load(text: Option<&Path>, html: Option<&Path>) -> Result<Templates, DeskError> {
        let read =
            |p: Option<&Path>, default: &'static str| -> Result<(String, String), DeskError> {
                match p {
                    None => Ok(("(shipped default)".to_owned(), default.to_owned())),
                    Some(p) => std::fs::read_to_string(p)
                        .map(|s| (p.display().to_string(), s))
                        .map_err(|e| DeskError::Template {
                            template: p.display().to_string(),
                            why: format!("cannot read it: {e}"),
                        }),
                }
            };
        let (tname, tsrc) = read(text, DEFAULT_TEXT)?;
        let (hname, hsrc) = read(html, DEFAULT_HTML)?;
        Self::from_sources(&tname, tsrc, &hname, hsrc)
    }

    /// Templates from text (`*_label` names them in errors).
    pub fn from_sources(
        text_label: &str,
        text: String,
        html_label: &str,
        html: String,
    ) -> Result<Templates, DeskError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, label, src) in [(TEXT, text_label, text), (HTML, html_label, html)] {
            env.add_template_owned(name, src)
                .map_err(|e| DeskError::Template {
                    template: label.to_owned(),
                    why: e.to_string(),
                })?;
            let t = env.get_template(name).map_err(|e| DeskError::Template {
                template: label.to_owned(),
                why: e.to_string(),
            })?;
            let mut used: Vec<String> = t.undeclared_variables(true).into_iter().collect();
            used.sort();
            if let Some(bad) = used.into_iter().find(|u| !allowed(u)) {
                return Err(DeskError::UnknownPlaceholder {
                    template: label.to_owned(),
                    name: bad,
                });
            }
        }
        Ok(Templates { env })
    }

    pub fn render(&self, ctx: &Value, subject: &str) -> Result<Rendered, DeskError> {
        let one = |name: &str| -> Result<String, DeskError> {
            self.env
                .get_template(name)
                .and_then(|t| t.render(ctx))
                .map_err(|e| {
                    let mut why = e.to_string();
                    if let Some(d) = e.detail() {
                        if !why.contains(d) {
                            why = format!("{why}: {d}");
                        }
                    }
                    DeskError::Template {
                        template: name.to_owned(),
                        why,
                    }
                })
        };
        Ok(Rendered {
            subject: subject.to_owned(),
            text: one(TEXT)?,
            html: one(HTML)?,
        })
    }
}

/// Identifies the report being rendered.
#[derive(Debug, Clone, Serialize)]
pub struct ReportMeta {
    pub kind: &'static str,
    pub number: u32,
    pub subject: String,
    pub first_subject: String,
    pub first_message_id: String,
    pub to: String,
    pub generated_at: TimeView,
}

fn time_or(ns: Option<i64>, missing: &str) -> TimeView {
    ns.map(TimeView::of).unwrap_or_else(|| TimeView {
        ist: missing.to_owned(),
        utc: String::new(),
    })
}

/// The values every placeholder takes for one report.
pub fn context(
    inc: &Incident,
    poc: &PocRecord,
    excerpts: &[Excerpt],
    export: &Export,
    report: &ReportMeta,
    organisation: &str,
    now_ns: i64,
) -> Value {
    let v = inc.view(now_ns);
    let f = &inc.fields;
    let has_logs = export.records > 0;
    let ctx = serde_json::json!({
        "report": report,
        "organisation": organisation,
        "incident": {
            "id": inc.id,
            "title": f.title,
            "state": inc.state.as_str(),
            "kinds": v.kinds_detail,
            "occurred_at": time_or(f.occurred_at_ns, "not known"),
            "detected_at": v.detected_at,
            "notified_at": time_or(inc.notified_at_ns, "not notified"),
            "clock_start": v.clock_start,
            "deadline": v.deadline,
            "clock": v.clock_text,
            "overdue": v.overdue,
            "systems": f.systems,
            "symptoms": f.symptoms,
            "description": f.description,
            "scope_impact": f.scope_impact,
            "iocs": f.iocs,
            "actions_taken": f.actions_taken,
            "security_systems": f.security_systems,
            "other_info": f.other_info,
            "created_by": inc.created_by,
        },
        "poc": poc.poc,
        "logs": {
            "file": if has_logs { export.ndjson_name.clone() } else { String::new() },
            "manifest": if has_logs { export.manifest_name.clone() } else { String::new() },
            "records": export.records,
            "sha256": if has_logs { export.sha256.clone() } else { String::new() },
            "seq_min": export.seq_min.map(|s| s.to_string()).unwrap_or_default(),
            "seq_max": export.seq_max.map(|s| s.to_string()).unwrap_or_default(),
            "excerpts": excerpts.iter().map(|e| serde_json::json!({
                "name": e.name, "query": e.query, "records": e.records,
            })).collect::<Vec<_>>(),
        },
    });
    Value::from(minijinja::value::Serde(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_templates_use_only_documented_placeholders() {
        Templates::load(None, None).unwrap();
    }

    #[test]
    fn unknown_placeholder_is_named() {
        let e = Templates::from_sources(
            "custom.txt",
            "Kind: {{ incident.kind }}\n{{ poc.name }}".into(),
            "h",
            DEFAULT_HTML.into(),
        )
        .err()
        .unwrap();
        let msg = e.to_string();
        assert!(msg.contains("`incident.kind`"), "{msg}");
        assert!(msg.contains("custom.txt"), "{msg}");
        let e = Templates::from_sources("t", "{{ reporter }}".into(), "h", "".into())
            .err()
            .unwrap();
        assert!(e.to_string().contains("`reporter`"));
    }

    #[test]
    fn loops_and_builtins_are_fine() {
        Templates::from_sources(
            "t",
            "{% for k in incident.kinds %}{{ loop.index }}. {{ k.wording }}{% endfor %}{% for i in range(2) %}{% endfor %}".into(),
            "h",
            "".into(),
        )
        .unwrap();
    }

    #[test]
    fn every_placeholder_is_documented() {
        let doc = include_str!("../../../docs/incident-report.md");
        for (p, _) in PLACEHOLDERS {
            assert!(
                doc.contains(&format!("`{p}`")),
                "docs/incident-report.md lacks `{p}`"
            );
        }
    }
}
