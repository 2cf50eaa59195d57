//! Detection with Sigma rules (SigmaHQ's YAML format) over stored records.
//!
//! * [`rule`] loads a rule file ([`load`]) into a [`Rule`]: metadata,
//!   logsource, and its detection compiled; whatever this engine cannot run
//!   is refused with the file, line and feature named ([`RuleError`]), and
//!   the other rules still load.
//! * [`aggregate`] parses `| count() by field > N` and keeps the sliding
//!   windows that decide when an aggregation rule fires.
//! * [`condition`] parses a condition (`selection and not 1 of filter_*`).
//! * [`value`] compiles a value with its modifiers (`|contains`, `|re`,
//!   `|cidr`...) into what matches a field's text.
//! * [`event`] is one record as a rule reads it: the line for keywords, and
//!   fields by the names rules use (from JSON, access logs, `key=value`
//!   pairs and what pramaan parsed).
//!
//! Owns: the meaning of Sigma rules over pramaan's records.
//! May not touch: any I/O (text in, rules out; records in, matches out).

#![warn(clippy::too_many_lines)]

pub mod aggregate;
pub mod condition;
pub mod event;
pub mod rule;
pub mod value;

pub use event::Event;
pub use rule::{load, Level, LogSource, Rule, RuleError};
