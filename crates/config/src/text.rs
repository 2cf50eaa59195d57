//! Text made from the key table: the effective configuration
//! ([`Loaded::render`]), the reference (`docs/configuration.md`) and the
//! example file (`pramaan.example.toml`).

use std::fmt::Write as _;

use crate::keys::{self, KeyDef, KEYS};
use crate::{Config, Loaded, Origin};

/// The keys of one section (`None` = the keys before any `[section]`), in
/// table order.
fn grouped() -> Vec<(Option<&'static str>, Vec<&'static KeyDef>)> {
    let top = KEYS.iter().filter(|def| def.section().is_none()).collect();
    let mut groups = vec![(None, top)];
    for section in keys::sections() {
        let defs = KEYS
            .iter()
            .filter(|def| def.section() == Some(section))
            .collect();
        groups.push((Some(section), defs));
    }
    groups
}

pub(crate) fn render(loaded: &Loaded) -> String {
    let mut out = String::from(
        "# pramaan's effective configuration: after each value, where it came from.\n",
    );
    match &loaded.file {
        Some(path) => {
            let _ = writeln!(out, "# Configuration file: {}", path.display());
        }
        None => out.push_str("# Configuration file: none\n"),
    }
    for (section, defs) in grouped() {
        if let Some(section) = section {
            let _ = write!(out, "\n[{section}]\n");
        }
        let lines: Vec<(String, String)> = defs
            .iter()
            .map(|def| {
                let origin = loaded.origins.get(def.key).unwrap_or(&Origin::Default);
                (
                    format!("{} = {}", def.leaf(), def.kind.render(&loaded.config)),
                    format!("# from {origin}"),
                )
            })
            .collect();
        let width = lines
            .iter()
            .map(|(setting, _)| setting.chars().count())
            .max()
            .unwrap_or(0);
        for (setting, comment) in lines {
            let pad = width - setting.chars().count();
            let _ = writeln!(out, "{setting}{:pad$}  {comment}", "");
        }
    }
    out
}

/// The configuration reference in Markdown: every key with its type,
/// default, environment variable, allowed values and meaning. This is
/// `docs/configuration.md`.
pub fn reference() -> String {
    let mut out = String::new();
    out.push_str(REFERENCE_INTRO);
    let docs: Vec<keys::KeyDoc> = keys::keys().collect();

    out.push_str("\n## All keys\n\n");
    out.push_str("| Key | Type | Default | Environment variable |\n");
    out.push_str("| --- | --- | --- | --- |\n");
    for doc in &docs {
        let _ = writeln!(
            out,
            "| [`{key}`](#{anchor}) | {ty} | `{default}` | `{env}` |",
            key = doc.key,
            anchor = doc.key.replace(".", ""),
            ty = doc.type_name,
            default = doc.default,
            env = doc.env,
        );
    }

    for (section, defs) in grouped() {
        match section {
            Some(section) => {
                let _ = write!(out, "\n## `[{section}]`\n");
            }
            None => out.push_str("\n## Top level\n"),
        }
        for def in defs {
            let Some(doc) = docs.iter().find(|doc| doc.key == def.key) else {
                continue;
            };
            let _ = write!(
                out,
                "\n### `{key}`\n\n{help}\n\n\
                 - Type: {ty}\n\
                 - Default: `{default}`\n\
                 - Environment: `{env}`\n\
                 - Allowed: {allowed}\n",
                key = doc.key,
                help = markdown_text(doc.help),
                ty = doc.type_name,
                default = doc.default,
                env = doc.env,
                allowed = markdown_text(&doc.allowed),
            );
        }
    }
    out
}

const REFERENCE_INTRO: &str = r#"# Configuration reference

<!-- Generated from crates/config/src/keys.rs by pramaan_config::reference().
     Do not edit by hand; to regenerate, run
     PRAMAAN_TEST_BLESS=1 cargo test -p pramaan-config -->

pramaan reads its configuration from four places. Each overrides the one
before it:

1. built-in defaults (listed below);
2. the configuration file, in TOML: the path given to the `pramaan` command,
   else the one named by `$PRAMAAN_CONFIG`, else `pramaan.toml` in the working
   directory if there is one;
3. environment variables: each key has one, `PRAMAAN_` followed by the key in
   capitals with `.` as `_` (`http.listen` is `PRAMAAN_HTTP_LISTEN`);
4. command-line flags, where the `pramaan` command has one for a key.

`pramaan config` prints the effective configuration as TOML, each value
followed by where it came from. `pramaan.example.toml` lists every key with its
default.

pramaan refuses to start with a bad configuration, naming the key, the value,
where the value came from and what is allowed. An unknown key in the file, or a
`PRAMAAN_*` environment variable that names no key, is an error too, so a typo
never silently leaves a default in place.

## Value types

- **size**: a number of bytes, or a string with a binary unit: `"64KiB"`,
  `"4MiB"`, `"1GiB"` (units `B`, `KiB`, `MiB`, `GiB`, `TiB`; `MB` and the
  like are refused as ambiguous).
- **duration**: a number of seconds, or a string with units `ms`, `s`, `m`,
  `h`, `d`: `"500ms"`, `"5s"`, `"15m"`, `"2h"`, `"180d"`, `"1h30m"`.
- **address**: an IP address and port, `"127.0.0.1:8080"` or `"[::1]:8080"`;
  `localhost` means `127.0.0.1`. Host names are not looked up. Syslog
  listeners also take `"off"` (or `""`) for no listener.
- **boolean**: `true` or `false`; in environment variables and flags also
  `1`/`0`, `yes`/`no`, `on`/`off`.
- **UTC offset**: `"+05:30"`, `"-03:00"`, `"Z"`, `"UTC"` or `"IST"`.
- **integer**: digits, optionally with `_` separators (`1_000_000`).
- **list of tables** (`retention.classes`, `attribution.sources`): in the
  file, one `[[retention.classes]]` table per entry, or an inline list
  `[{ name = "firewalls", sources = ["fw-*"], days = 365 }]`; in the
  environment, that inline list as text (`""` for none).

Environment variables and flags are text; each is read as its key's type.

## Other environment variables

These start with `PRAMAAN_` but are not configuration keys:

- `PRAMAAN_CONFIG`: the configuration file to read.
- `PRAMAAN_LOG`: a tracing filter read by the `pramaan` binary's logging
  setup (compare `log.level`).
- `PRAMAAN_TEST_*` and `PRAMAAN_BENCH_*`: for tests and benchmarks.

Any other `PRAMAAN_*` variable that names no key is an error.
"#;

/// Escapes what Markdown would take for HTML (`<data_dir>`), outside code
/// spans.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `pramaan.example.toml`: every key commented out with its default, its
/// help text and its environment variable. Loading it gives the defaults.
pub fn example() -> String {
    let defaults = Config::default();
    let mut out = String::from(EXAMPLE_INTRO);
    for (section, defs) in grouped() {
        if let Some(section) = section {
            let _ = write!(out, "\n[{section}]\n");
        }
        for def in defs {
            out.push('\n');
            for line in wrap(def.help, 76) {
                let _ = writeln!(out, "# {line}");
            }
            let _ = writeln!(out, "# Environment: {}", def.env_var());
            let _ = writeln!(out, "# {} = {}", def.leaf(), def.kind.render(&defaults));
        }
    }
    out
}

const EXAMPLE_INTRO: &str = "\
# pramaan configuration: every key, commented out, with its default value.
#
# Copy this file to pramaan.toml and uncomment what you change. The
# environment variable shown for a key overrides this file, and command-line
# flags override both. `pramaan config` prints the effective configuration;
# docs/configuration.md describes every key.
#
# Generated by pramaan_config::example(); do not edit by hand.
";

/// Splits `text` into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
