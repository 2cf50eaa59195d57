use std::path::PathBuf;

use crate::Origin;

/// Why a configuration was refused. Each displays as one line for a person.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The configuration file is not valid TOML.
    #[error("{}:{line}:{column}: invalid TOML: {message}", path.display())]
    Syntax {
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// 1-based, in characters.
        column: usize,
        message: String,
    },

    /// A key that pramaan does not know, in the file or a flag.
    #[error("unknown key {key} (from {origin}){}", did_you_mean(suggestion.as_deref()))]
    UnknownKey {
        /// Dotted: `http.lisen`.
        key: String,
        origin: Origin,
        /// The nearest known key, if one is near.
        suggestion: Option<String>,
    },

    /// A `PRAMAAN_*` environment variable that names no key.
    #[error(
        "unknown environment variable ${var}: no configuration key is named so{}",
        did_you_mean(suggestion.as_ref().map(|s| format!("${s}")).as_deref())
    )]
    UnknownEnv {
        var: String,
        /// The nearest known variable, if one is near.
        suggestion: Option<String>,
    },

    /// A value that its key does not allow.
    #[error("{key} = {value} (from {origin}): {allowed}")]
    BadValue {
        /// Dotted: `http.listen`.
        key: String,
        /// The value as given; strings in quotes.
        value: String,
        origin: Origin,
        /// What is allowed, e.g. `expected a socket address like 127.0.0.1:8080`.
        allowed: String,
    },

    /// Values that are each allowed but do not go together.
    #[error("{message}")]
    Conflict { message: String },
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean {s}?"),
        None => String::new(),
    }
}
