//! Layering: defaults, then the file, then `PRAMAAN_*` variables, then flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::keys::{self, KeyDef, KEYS};
use crate::value::Raw;
use crate::{Config, ConfigError, Loaded, Origin};

/// Environment variable naming the configuration file, when no path is given
/// to [`load`]. Not a configuration key.
pub const ENV_CONFIG_FILE: &str = "PRAMAAN_CONFIG";

/// Environment variable that the `pramaan` binary reads as its tracing filter.
/// Not a configuration key: [`load`] ignores it (see `log.level`).
pub const ENV_LOG_FILTER: &str = "PRAMAAN_LOG";

/// `PRAMAAN_*` variables with these prefixes belong to tests and benchmarks,
/// and are ignored by [`load`].
const ENV_FREE_PREFIXES: [&str; 2] = ["PRAMAAN_TEST_", "PRAMAAN_BENCH_"];

/// Secrets given in the environment, never configuration keys (so never
/// shown by `pramaan config`): the first admin's password and a bootstrap
/// admin token for `serve`, the API token the CLI sends.
pub const ENV_SECRETS: [&str; 3] = [
    "PRAMAAN_ADMIN_PASSWORD",
    "PRAMAAN_BOOTSTRAP_TOKEN",
    "PRAMAAN_TOKEN",
];

/// The file read when neither a path nor `PRAMAAN_CONFIG` is given, if it
/// exists.
const DEFAULT_FILE: &str = "pramaan.toml";

/// This process's environment, for [`load`]. Names and values that are not
/// UTF-8 are converted lossily rather than panicking as [`std::env::vars`]
/// would.
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().map(|(name, value)| {
        (
            name.to_string_lossy().into_owned(),
            value.to_string_lossy().into_owned(),
        )
    })
}

/// Loads the configuration.
///
/// * `file`: the configuration file, which must exist; or `None` for the file
///   named by `$PRAMAAN_CONFIG` (which must exist), or else `./pramaan.toml`
///   if it exists, or else no file.
/// * `env`: the process's environment variables (e.g. [`process_env()`]);
///   only `PRAMAAN_*` ones are looked at, and one that names no key is an
///   error, except `PRAMAAN_CONFIG`, `PRAMAAN_LOG` and those starting with
///   `PRAMAAN_TEST_` or `PRAMAAN_BENCH_`.
/// * `flags`: overrides from command-line flags as (dotted key, value), e.g.
///   `("data_dir", "/srv/pramaan".into())`. Values are read as the
///   environment's are. The flag is reported as `--data-dir` (the key with
///   `.` and `_` as `-`).
///
/// Each layer overrides the one before it: defaults, file, environment, flags.
/// The result has passed [`Config::validate`].
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &[(&str, String)],
) -> Result<Loaded, ConfigError> {
    load_with_default_file(Path::new(DEFAULT_FILE), file, env, flags)
}

pub(crate) fn load_with_default_file(
    default_file: &Path,
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &[(&str, String)],
) -> Result<Loaded, ConfigError> {
    // Sorted, so that of several bad variables the same one is reported.
    let env: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with("PRAMAAN_"))
        .collect();
    let path: Option<PathBuf> = match (file, env.get(ENV_CONFIG_FILE)) {
        (Some(path), _) => Some(path.to_path_buf()),
        (None, Some(path)) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => default_file.exists().then(|| default_file.to_path_buf()),
    };

    let mut layers = Layers {
        config: Config::default(),
        origins: KEYS
            .iter()
            .map(|def| (def.key.to_owned(), Origin::Default))
            .collect(),
    };
    if let Some(path) = &path {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        layers.apply_file(path, &text)?;
    }
    layers.apply_env(&env)?;
    layers.apply_flags(flags)?;

    let Layers { config, origins } = layers;
    if let Some((message, involved)) = config.conflict() {
        let sources: Vec<String> = involved
            .iter()
            .map(|key| {
                let origin = origins.get(*key).unwrap_or(&Origin::Default);
                format!("{key} from {origin}")
            })
            .collect();
        return Err(ConfigError::Conflict {
            message: format!("{message} ({})", sources.join(", ")),
        });
    }
    Ok(Loaded {
        config,
        origins,
        file: path,
    })
}

/// The configuration being built and where each value came from.
struct Layers {
    config: Config,
    origins: BTreeMap<String, Origin>,
}

impl Layers {
    fn set(&mut self, def: &KeyDef, raw: &Raw, origin: Origin) -> Result<(), ConfigError> {
        match def.kind.apply(&mut self.config, raw) {
            Ok(()) => {
                self.origins.insert(def.key.to_owned(), origin);
                Ok(())
            }
            Err(allowed) => Err(ConfigError::BadValue {
                key: def.key.to_owned(),
                value: raw.shown(),
                origin,
                allowed,
            }),
        }
    }

    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let origin = || Origin::File(path.to_path_buf());
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let (line, column) = line_column(text, e.span().map_or(0, |span| span.start));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e
                    .message()
                    .lines()
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })?;
        for (name, value) in &table {
            if let Some(def) = keys::find(name).filter(|def| def.section().is_none()) {
                self.set(def, &Raw::from_toml(value), origin())?;
            } else if keys::sections().contains(&name.as_str()) {
                let toml::Value::Table(section) = value else {
                    return Err(ConfigError::BadValue {
                        key: name.clone(),
                        value: Raw::from_toml(value).shown(),
                        origin: origin(),
                        allowed: format!("expected a table: [{name}]"),
                    });
                };
                for (leaf, value) in section {
                    let key = format!("{name}.{leaf}");
                    let def = keys::find(&key).ok_or_else(|| unknown_key(&key, origin()))?;
                    self.set(def, &Raw::from_toml(value), origin())?;
                }
            } else {
                return Err(unknown_key(name, origin()));
            }
        }
        Ok(())
    }

    /// The one place where environment variables become configuration.
    fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        for (name, value) in env {
            if name == ENV_CONFIG_FILE
                || name == ENV_LOG_FILTER
                || ENV_FREE_PREFIXES.iter().any(|p| name.starts_with(p))
                || ENV_SECRETS.contains(&name.as_str())
            {
                continue;
            }
            let Some(def) = KEYS.iter().find(|def| def.env_var() == *name) else {
                return Err(ConfigError::UnknownEnv {
                    var: name.clone(),
                    suggestion: suggest_env(name),
                });
            };
            self.set(def, &Raw::Str(value.clone()), Origin::Env(name.clone()))?;
        }
        Ok(())
    }

    fn apply_flags(&mut self, flags: &[(&str, String)]) -> Result<(), ConfigError> {
        for (key, value) in flags {
            let origin = Origin::Flag(flag_name(key));
            let def = keys::find(key).ok_or_else(|| unknown_key(key, origin.clone()))?;
            self.set(def, &Raw::Str(value.clone()), origin)?;
        }
        Ok(())
    }
}

/// `data_dir` → `--data-dir`; `http.listen` → `--http-listen`.
pub(crate) fn flag_name(key: &str) -> String {
    format!("--{}", key.replace(['.', '_'], "-"))
}

fn unknown_key(key: &str, origin: Origin) -> ConfigError {
    ConfigError::UnknownKey {
        key: key.to_owned(),
        origin,
        suggestion: suggest_key(key).map(str::to_owned),
    }
}

/// The known key (or section) most like `unknown`.
pub(crate) fn suggest_key(unknown: &str) -> Option<&'static str> {
    let (section, leaf) = unknown.rsplit_once('.').unwrap_or(("", unknown));
    // A known key put in the wrong section, or in none: `listen` → `http.listen`.
    if !keys::sections().contains(&section) {
        let mut same_leaf = KEYS.iter().filter(|def| def.leaf() == leaf);
        if let (Some(def), None) = (same_leaf.next(), same_leaf.next()) {
            return Some(def.key);
        }
    }
    let sections = keys::sections();
    let candidates = KEYS.iter().map(|def| def.key).chain(sections);
    nearest(unknown, candidates)
}

/// The known variable most like `unknown` (compared without `PRAMAAN_`).
fn suggest_env(unknown: &str) -> Option<String> {
    let strip = |name: &str| name.strip_prefix("PRAMAAN_").unwrap_or(name).to_owned();
    let names: Vec<String> = KEYS.iter().map(|def| strip(&def.env_var())).collect();
    nearest(&strip(unknown), names.iter().map(String::as_str)).map(|s| format!("PRAMAAN_{s}"))
}

/// The candidate nearest to `unknown` by edit distance, if it is near enough
/// to be a likely typo.
fn nearest<'a>(unknown: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let unknown_lower = unknown.to_ascii_lowercase();
    let (best, distance) = candidates
        .map(|c| (c, edit_distance(&unknown_lower, &c.to_ascii_lowercase())))
        .min_by_key(|(_, d)| *d)?;
    let len = unknown.chars().count();
    (distance <= 2 || distance * 3 <= len).then_some(best)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
