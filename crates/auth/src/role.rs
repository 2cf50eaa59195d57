//! The roles of the role matrix (README, "Access control").

use crate::AuthError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a user or token may do; a user may hold several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Users, tokens, configuration; passes every access check.
    Admin,
    /// Writes log lines (HTTP ingest), nothing else.
    Ingest,
    /// Searches logs (search, SQL), places holds.
    Analyst,
    /// Reads subscriber data, stating a purpose.
    RegistryOfficer,
    /// Approves orders and releases holds.
    Approver,
    /// Point of contact: incidents and reports.
    Poc,
    /// The audit trail, verification, everything else read-only except personal data.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Ingest,
        Role::Analyst,
        Role::RegistryOfficer,
        Role::Approver,
        Role::Poc,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Ingest => "ingest",
            Role::Analyst => "analyst",
            Role::RegistryOfficer => "registry-officer",
            Role::Approver => "approver",
            Role::Poc => "poc",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Result<Role, AuthError> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(AuthError::UnknownRole(s))
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of roles (stored as `admin,analyst`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoleSet(u8);

impl RoleSet {
    pub fn of(roles: &[Role]) -> Self {
        RoleSet(roles.iter().fold(0, |a, r| a | r.bit()))
    }

    pub fn contains(self, r: Role) -> bool {
        self.0 & r.bit() != 0
    }

    pub fn intersects(self, other: RoleSet) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// `"admin, analyst"` or `"ingest"`: comma-separated names; at least one.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let mut set = RoleSet::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            set.0 |= Role::parse(part)?.bit();
        }
        if set.is_empty() {
            return Err(AuthError::NoRole);
        }
        Ok(set)
    }
}

impl fmt::Display for RoleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl Serialize for RoleSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}
