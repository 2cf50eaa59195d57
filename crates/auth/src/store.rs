//! Users, API tokens and login sessions in SQLite (`<data_dir>/auth.db`).
//!
//! Passwords are kept as argon2id hashes; tokens and session ids (256-bit
//! random) as their SHA-256. Nothing here logs a secret.

use crate::secret::{self, sha256_hex};
use crate::{AuthError, RoleSet, MIN_PASSWORD_LEN};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The store's file in a data directory.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("auth.db")
}

/// Prefix of every API token, so that a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "pmn_";

pub struct AuthStore {
    conn: Mutex<Connection>,
    path: String,
}

/// A user as listed (no hash).
#[derive(Clone, Debug, serde::Serialize)]
pub struct UserInfo {
    pub name: String,
    pub roles: RoleSet,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at_ns: i64,
    pub changed_at_ns: i64,
}

/// A token as listed (never the secret).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub roles: RoleSet,
    pub created_by: String,
    pub created_at_ns: i64,
    pub expires_at_ns: Option<i64>,
    pub revoked_at_ns: Option<i64>,
    pub revoked_by: Option<String>,
}

impl TokenInfo {
    pub fn active(&self, now_ns: i64) -> bool {
        self.revoked_at_ns.is_none() && self.expires_at_ns.is_none_or(|e| e > now_ns)
    }
}

/// A token just created: the secret is shown once and never again.
#[derive(Debug, serde::Serialize)]
pub struct NewToken {
    pub info: TokenInfo,
    pub secret: String,
}

fn valid_name(name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::BadName(name.chars().take(80).collect()))
    }
}

fn check_password_strength(p: &str) -> Result<(), AuthError> {
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(AuthError::WeakPassword {
            min: MIN_PASSWORD_LEN,
        });
    }
    Ok(())
}

fn roles_of(s: String) -> RoleSet {
    // Stored by us; an unknown name (a later version's role) is dropped.
    s.split(',')
        .filter_map(|r| crate::Role::parse(r).ok())
        .fold(RoleSet::default(), |a, r| {
            RoleSet::of(&a.iter().chain([r]).collect::<Vec<_>>())
        })
}

impl AuthStore {
    /// Opens (creating) the store at `path`; the file is readable by its owner only.
    pub fn open(path: &Path) -> Result<Self, AuthError> {
        let conn = pramaan_db::open_private(path, &crate::schema::SCHEMA)?;
        Ok(AuthStore {
            conn: Mutex::new(conn),
            path: path.display().to_string(),
        })
    }

    /// An in-memory store, for tests.
    pub fn in_memory() -> Result<Self, AuthError> {
        Ok(AuthStore {
            conn: Mutex::new(pramaan_db::open_in_memory(&crate::schema::SCHEMA)?),
            path: ":memory:".into(),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn db(&self, source: rusqlite::Error) -> AuthError {
        AuthError::Db {
            path: self.path.clone(),
            source,
        }
    }

    // ------------------------------------------------------------ lock-out

    /// Stores `user`'s failed logins in the current window and its lock, so
    /// that a restart keeps them; forgets users whose window and lock ended
    /// before `now_ns - window_ns` (names tried once by a scanner do not pile up).
    pub fn save_login_failures(
        &self,
        user: &str,
        failures: &[i64],
        locked_until_ns: Option<i64>,
        now_ns: i64,
        window_ns: i64,
    ) -> Result<(), AuthError> {
        let text = failures
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let last = failures.last().copied().unwrap_or(now_ns);
        let c = self.conn();
        c.prepare_cached(
            "INSERT INTO login_failures (user, failures, locked_until_ns, last_ns) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT(user) DO UPDATE SET \
             failures = excluded.failures, locked_until_ns = excluded.locked_until_ns, \
             last_ns = excluded.last_ns",
        )
        .and_then(|mut st| st.execute(params![user, text, locked_until_ns, last]))
        .map_err(|e| self.db(e))?;
        c.prepare_cached(
            "DELETE FROM login_failures WHERE last_ns <= ?1 \
             AND (locked_until_ns IS NULL OR locked_until_ns <= ?2)",
        )
        .and_then(|mut st| st.execute(params![now_ns.saturating_sub(window_ns), now_ns]))
        .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Forgets `user`'s failed logins (after a successful one).
    pub fn clear_login_failures(&self, user: &str) -> Result<(), AuthError> {
        self.conn()
            .prepare_cached("DELETE FROM login_failures WHERE user = ?1")
            .and_then(|mut st| st.execute(params![user]))
            .map(|_| ())
            .map_err(|e| self.db(e))
    }

    /// Every stored user's failed logins and lock: (user, failures, locked until).
    #[allow(clippy::type_complexity)]
    pub fn login_failures(&self) -> Result<Vec<(String, Vec<i64>, Option<i64>)>, AuthError> {
        let c = self.conn();
        let mut st = c
            .prepare("SELECT user, failures, locked_until_ns FROM login_failures ORDER BY user")
            .map_err(|e| self.db(e))?;
        let rows = st
            .query_map([], |r| {
                let text: String = r.get(1)?;
                let failures = text
                    .split(',')
                    .filter_map(|t| t.parse::<i64>().ok())
                    .collect();
                Ok((
                    r.get::<_, String>(0)?,
                    failures,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })
            .map_err(|e| self.db(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.db(e))
    }

    // ------------------------------------------------------------ users

    pub fn user_count(&self) -> Result<u64, AuthError> {
        self.conn()
            .query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.db(e))
    }

    /// Adds a user. With `must_change`, the password is one-time: the user
    /// must change it before doing anything else.
    pub fn add_user(
        &self,
        name: &str,
        password: &str,
        roles: RoleSet,
        must_change: bool,
        now_ns: i64,
    ) -> Result<UserInfo, AuthError> {
        valid_name(name)?;
        if roles.is_empty() {
            return Err(AuthError::NoRole);
        }
        check_password_strength(password)?;
        let hash = secret::hash_password(password)?;
        let n = self
            .conn()
            .execute(
                "INSERT INTO users (name, password_hash, roles, must_change, created_at_ns, changed_at_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (name) DO NOTHING",
                params![name, hash, roles.to_string(), must_change, now_ns],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 {
            return Err(AuthError::UserExists(name.to_owned()));
        }
        self.user(name)
    }

    pub fn user(&self, name: &str) -> Result<UserInfo, AuthError> {
        self.conn()
            .query_row(
                "SELECT name, roles, disabled, must_change, created_at_ns, changed_at_ns FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok(UserInfo {
                        name: r.get(0)?,
                        roles: roles_of(r.get(1)?),
                        disabled: r.get(2)?,
                        must_change_password: r.get(3)?,
                        created_at_ns: r.get(4)?,
                        changed_at_ns: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.db(e))?
            .ok_or_else(|| AuthError::UnknownUser(name.to_owned()))
    }

    pub fn users(&self) -> Result<Vec<UserInfo>, AuthError> {
        let names: Vec<String> = {
            let c = self.conn();
            let mut st = c
                .prepare("SELECT name FROM users ORDER BY name")
                .map_err(|e| self.db(e))?;
            let rows = st
                .query_map([], |r| r.get(0))
                .map_err(|e| self.db(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.db(e))?;
            rows
        };
        names.iter().map(|n| self.user(n)).collect()
    }

    /// Sets a new password. `must_change` = true when an admin sets it for
    /// someone else (a one-time password), false when the user sets their own.
    pub fn set_password(
        &self,
        name: &str,
        password: &str,
        must_change: bool,
        now_ns: i64,
    ) -> Result<(), AuthError> {
        check_password_strength(password)?;
        let hash = secret::hash_password(password)?;
        let n = self
            .conn()
            .execute(
                "UPDATE users SET password_hash = ?2, must_change = ?3, changed_at_ns = ?4 WHERE name = ?1",
                params![name, hash, must_change, now_ns],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 {
            return Err(AuthError::UnknownUser(name.to_owned()));
        }
        // Other sessions of this user end with the old password.
        self.end_sessions(name)?;
        Ok(())
    }

    /// Disables (or enables) a user; a disabled user's sessions end.
    pub fn set_disabled(&self, name: &str, disabled: bool, now_ns: i64) -> Result<(), AuthError> {
        let n = self
            .conn()
            .execute(
                "UPDATE users SET disabled = ?2, changed_at_ns = ?3 WHERE name = ?1",
                params![name, disabled, now_ns],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 {
            return Err(AuthError::UnknownUser(name.to_owned()));
        }
        if disabled {
            self.end_sessions(name)?;
        }
        Ok(())
    }

    /// Replaces a user's roles.
    pub fn set_roles(&self, name: &str, roles: RoleSet, now_ns: i64) -> Result<(), AuthError> {
        if roles.is_empty() {
            return Err(AuthError::NoRole);
        }
        let n = self
            .conn()
            .execute(
                "UPDATE users SET roles = ?2, changed_at_ns = ?3 WHERE name = ?1",
                params![name, roles.to_string(), now_ns],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 {
            return Err(AuthError::UnknownUser(name.to_owned()));
        }
        Ok(())
    }

    /// The user, when the password is right and the user is enabled.
    /// Takes as long for an unknown user as for a wrong password.
    pub fn verify_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<UserInfo>, AuthError> {
        let row: Option<(String, bool)> = self
            .conn()
            .query_row(
                "SELECT password_hash, disabled FROM users WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.db(e))?;
        match row {
            None => {
                let _ = secret::verify_password(password, secret::dummy_hash());
                Ok(None)
            }
            Some((hash, disabled)) => {
                if secret::verify_password(password, &hash) && !disabled {
                    Ok(Some(self.user(name)?))
                } else {
                    Ok(None)
                }
            }
        }
    }

    // ------------------------------------------------------------ tokens

    /// Creates an API token; its secret is in the answer and nowhere else.
    pub fn create_token(
        &self,
        name: &str,
        roles: RoleSet,
        created_by: &str,
        expires_at_ns: Option<i64>,
        now_ns: i64,
    ) -> Result<NewToken, AuthError> {
        let secret = secret::random_token(TOKEN_PREFIX)?;
        let info = self.insert_token(name, &secret, roles, created_by, expires_at_ns, now_ns)?;
        Ok(NewToken { info, secret })
    }

    /// Stores a token whose secret the caller chose (the bootstrap token of
    /// `PRAMAAN_BOOTSTRAP_TOKEN`). Does nothing if that secret is stored already.
    pub fn ensure_token(
        &self,
        name: &str,
        secret: &str,
        roles: RoleSet,
        created_by: &str,
        now_ns: i64,
    ) -> Result<(), AuthError> {
        let known: Option<i64> = self
            .conn()
            .query_row(
                "SELECT id FROM tokens WHERE hash = ?1",
                [sha256_hex(secret)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.db(e))?;
        if known.is_none() {
            let mut n = 0;
            loop {
                let candidate = if n == 0 {
                    name.to_owned()
                } else {
                    format!("{name}-{n}")
                };
                match self.insert_token(&candidate, secret, roles, created_by, None, now_ns) {
                    Err(AuthError::TokenExists(_)) if n < 1000 => n += 1,
                    r => return r.map(|_| ()),
                }
            }
        }
        Ok(())
    }

    fn insert_token(
        &self,
        name: &str,
        secret: &str,
        roles: RoleSet,
        created_by: &str,
        expires_at_ns: Option<i64>,
        now_ns: i64,
    ) -> Result<TokenInfo, AuthError> {
        valid_name(name)?;
        if roles.is_empty() {
            return Err(AuthError::NoRole);
        }
        let n = self
            .conn()
            .execute(
                "INSERT INTO tokens (name, hash, roles, created_by, created_at_ns, expires_at_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
                params![
                    name,
                    sha256_hex(secret),
                    roles.to_string(),
                    created_by,
                    now_ns,
                    expires_at_ns
                ],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 {
            return Err(AuthError::TokenExists(name.to_owned()));
        }
        self.token(name)
    }

    fn token_where(
        &self,
        clause: &str,
        arg: &dyn rusqlite::ToSql,
    ) -> Result<Option<TokenInfo>, AuthError> {
        // Cached: the token of every API request is looked up here.
        self.conn()
            .prepare_cached(&format!(
                "SELECT id, name, roles, created_by, created_at_ns, expires_at_ns, revoked_at_ns, revoked_by
                 FROM tokens WHERE {clause}"
            ))
            .map_err(|e| self.db(e))?
            .query_row(
                [arg],
                |r| {
                    Ok(TokenInfo {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        roles: roles_of(r.get(2)?),
                        created_by: r.get(3)?,
                        created_at_ns: r.get(4)?,
                        expires_at_ns: r.get(5)?,
                        revoked_at_ns: r.get(6)?,
                        revoked_by: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.db(e))
    }

    /// A token by name, or by number.
    pub fn token(&self, name_or_id: &str) -> Result<TokenInfo, AuthError> {
        let by_name = self.token_where("name = ?1", &name_or_id)?;
        let found = match (by_name, name_or_id.parse::<i64>()) {
            (Some(t), _) => Some(t),
            (None, Ok(id)) => self.token_where("id = ?1", &id)?,
            (None, Err(_)) => None,
        };
        found.ok_or_else(|| AuthError::UnknownToken(name_or_id.to_owned()))
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        let ids: Vec<i64> = {
            let c = self.conn();
            let mut st = c
                .prepare("SELECT id FROM tokens ORDER BY id")
                .map_err(|e| self.db(e))?;
            let rows = st
                .query_map([], |r| r.get(0))
                .map_err(|e| self.db(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.db(e))?;
            rows
        };
        ids.iter().map(|i| self.token(&i.to_string())).collect()
    }

    /// Revokes a token (by name or number); revoking twice keeps the first time.
    pub fn revoke_token(
        &self,
        name_or_id: &str,
        by: &str,
        now_ns: i64,
    ) -> Result<TokenInfo, AuthError> {
        let t = self.token(name_or_id)?;
        self.conn()
            .execute(
                "UPDATE tokens SET revoked_at_ns = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at_ns IS NULL",
                params![t.id, now_ns, by],
            )
            .map_err(|e| self.db(e))?;
        self.token(&t.id.to_string())
    }

    /// The token a secret belongs to, when it is active at `now_ns`.
    pub fn token_identity(
        &self,
        secret: &str,
        now_ns: i64,
    ) -> Result<Option<TokenInfo>, AuthError> {
        let t = self.token_where("hash = ?1", &sha256_hex(secret))?;
        Ok(t.filter(|t| t.active(now_ns)))
    }

    // ------------------------------------------------------------ sessions

    /// Opens a session for `user`: (session id, CSRF token).
    pub fn create_session(
        &self,
        user: &str,
        now_ns: i64,
        expires_at_ns: i64,
    ) -> Result<(String, String), AuthError> {
        let sid = secret::random_token("")?;
        let csrf = secret::random_token("")?;
        let c = self.conn();
        c.execute("DELETE FROM sessions WHERE expires_at_ns <= ?1", [now_ns])
            .map_err(|e| self.db(e))?;
        c.execute(
            "INSERT INTO sessions (hash, user, csrf, created_at_ns, expires_at_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha256_hex(&sid), user, csrf, now_ns, expires_at_ns],
        )
        .map_err(|e| self.db(e))?;
        Ok((sid, csrf))
    }

    /// The user and CSRF token of a live session whose user is enabled.
    pub fn session_identity(
        &self,
        sid: &str,
        now_ns: i64,
    ) -> Result<Option<(UserInfo, String)>, AuthError> {
        let row: Option<(String, String)> = self
            .conn()
            .query_row(
                "SELECT user, csrf FROM sessions WHERE hash = ?1 AND expires_at_ns > ?2",
                params![sha256_hex(sid), now_ns],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.db(e))?;
        let Some((user, csrf)) = row else {
            return Ok(None);
        };
        match self.user(&user) {
            Ok(u) if !u.disabled => Ok(Some((u, csrf))),
            Ok(_) | Err(AuthError::UnknownUser(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Ends one session (logout).
    pub fn end_session(&self, sid: &str) -> Result<(), AuthError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE hash = ?1", [sha256_hex(sid)])
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    fn end_sessions(&self, user: &str) -> Result<(), AuthError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE user = ?1", [user])
            .map_err(|e| self.db(e))?;
        Ok(())
    }
}
