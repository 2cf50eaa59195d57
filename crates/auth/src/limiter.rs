//! Login rate limiting and temporary lock-out. Pure: every call takes the
//! time, so tests drive it with an injected clock.
//!
//! * Per source address: at most `per_address_per_minute` attempts in any
//!   sliding minute; more are refused without checking the password.
//! * Per user name: after `max_failures` failed attempts within `lockout`,
//!   the name is locked for `lockout` from the last failure; a success
//!   clears the count. The lock applies whoever tries (so a correct password
//!   during the lock is refused too), and ends by itself.
//!
//! The per-user state is also kept in the user store (`login_failures`, see
//! [`crate::Auth`]), so a restart does not lift a lock; the per-address
//! counts are kept in memory only (a minute's window).

use crate::LoginError;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

const MINUTE_NS: i64 = 60_000_000_000;

#[derive(Clone, Copy, Debug)]
pub struct LimiterConfig {
    /// Failures that lock a user name (`auth.max_failures`); 0 = never.
    pub max_failures: u32,
    /// How long the lock lasts, and the window failures are counted in (`auth.lockout`).
    pub lockout_ns: i64,
    /// Attempts per source address per minute (`auth.login_rate`); 0 = no limit.
    pub per_address_per_minute: u32,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            max_failures: 5,
            lockout_ns: 15 * MINUTE_NS,
            per_address_per_minute: 30,
        }
    }
}

#[derive(Default)]
struct UserState {
    failures: VecDeque<i64>,
    locked_until: Option<i64>,
}

pub struct Limiter {
    cfg: LimiterConfig,
    users: HashMap<String, UserState>,
    addresses: HashMap<IpAddr, VecDeque<i64>>,
}

impl Limiter {
    pub fn new(cfg: LimiterConfig) -> Self {
        Limiter {
            cfg,
            users: HashMap::new(),
            addresses: HashMap::new(),
        }
    }

    /// May `user` try a password from `from` now? Counts the attempt.
    pub fn admit(&mut self, user: &str, from: IpAddr, now_ns: i64) -> Result<(), LoginError> {
        if self.cfg.per_address_per_minute > 0 {
            let q = self.addresses.entry(from).or_default();
            while q.front().is_some_and(|t| *t <= now_ns - MINUTE_NS) {
                q.pop_front();
            }
            if q.len() >= self.cfg.per_address_per_minute as usize {
                return Err(LoginError::RateLimited);
            }
            q.push_back(now_ns);
            if self.addresses.len() > 100_000 {
                self.addresses
                    .retain(|_, q| q.back().is_some_and(|t| *t > now_ns - MINUTE_NS));
            }
        }
        if let Some(s) = self.users.get_mut(user) {
            match s.locked_until {
                Some(until) if until > now_ns => {
                    return Err(LoginError::Locked {
                        until: pramaan_core::time::human(until),
                        until_ns: until,
                    })
                }
                Some(_) => {
                    s.locked_until = None;
                    s.failures.clear();
                }
                None => {}
            }
        }
        Ok(())
    }

    pub fn failed(&mut self, user: &str, now_ns: i64) {
        if self.cfg.max_failures == 0 {
            return;
        }
        let window = self.cfg.lockout_ns;
        let s = self.users.entry(user.to_owned()).or_default();
        while s.failures.front().is_some_and(|t| *t <= now_ns - window) {
            s.failures.pop_front();
        }
        s.failures.push_back(now_ns);
        if s.failures.len() >= self.cfg.max_failures as usize {
            s.locked_until = Some(now_ns.saturating_add(window));
            tracing::warn!(user = %user, failures = s.failures.len(), "user locked after repeated failed logins");
        }
        if self.users.len() > 100_000 {
            self.users.retain(|_, s| {
                s.locked_until.is_some_and(|u| u > now_ns)
                    || s.failures.back().is_some_and(|t| *t > now_ns - window)
            });
        }
    }

    /// The lock's length, which is also the window failures are counted in.
    pub fn window_ns(&self) -> i64 {
        self.cfg.lockout_ns
    }

    /// `user`'s failures in the current window and its lock, as stored.
    pub fn user_state(&self, user: &str) -> Option<(Vec<i64>, Option<i64>)> {
        self.users
            .get(user)
            .map(|s| (s.failures.iter().copied().collect(), s.locked_until))
    }

    /// Puts back a user's state read from the store (at start).
    pub fn restore(&mut self, user: &str, failures: Vec<i64>, locked_until: Option<i64>) {
        self.users.insert(
            user.to_owned(),
            UserState {
                failures: failures.into(),
                locked_until,
            },
        );
    }

    /// Forgets `user`'s failures; true when there were any to forget.
    pub fn succeeded(&mut self, user: &str) -> bool {
        self.users.remove(user).is_some()
    }

    /// When `user`'s lock ends, if it is locked at `now_ns`.
    pub fn locked_until(&self, user: &str, now_ns: i64) -> Option<i64> {
        self.users
            .get(user)
            .and_then(|s| s.locked_until)
            .filter(|u| *u > now_ns)
    }
}
