//! `pramaan user ...`, `pramaan token ...`, `pramaan audit search` and
//! `pramaan tls self-signed`: access control from the command line.
//!
//! Each command builds an operation of `pramaan_app` (`users`, `tokens`,
//! `audit_trail`) and runs it where the data is (see [`crate::runner`]):
//! through a running server over HTTP when one holds the data directory
//! (the caller needs an admin token in `$PRAMAAN_TOKEN`; an auditor's for
//! `audit search`), else on the data directory itself as the local
//! operator, recorded in the audit trail as `<os user> (local)`.
//! `user passwd --own` changes your own password on a server.

use crate::client;
use crate::runner::{run_once, Runner};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use pramaan_app::audit_trail::SearchAudit;
use pramaan_app::tokens::{CreateToken, ListTokens, RevokeToken};
use pramaan_app::users::{AddUser, DisableUser, EnableUser, ListUsers, ResetPassword};
use pramaan_app::Operation;
use pramaan_auth::RoleSet;
use pramaan_config::Config;
use pramaan_core::time::{human, now_ns};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

// ------------------------------------------------------------------ args

#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Add a user. Prints a generated one-time password once (the user must
    /// change it at the first login), or takes one from standard input.
    Add(UserAddArgs),
    /// Give a user a new one-time password (generated and printed once, or
    /// from standard input); with --own, change your own password instead.
    Passwd(UserPasswdArgs),
    /// Disable a user: logins, sessions and Basic credentials stop working.
    Disable(UserNameArgs),
    /// Enable a disabled user again.
    Enable(UserNameArgs),
    /// List the users (never a password or hash).
    List(ListArgs),
}

#[derive(Args, Debug)]
struct UserAddArgs {
    /// The user's name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
    name: String,
    /// Roles, comma-separated or repeated: admin, ingest, analyst,
    /// registry-officer, approver, poc, auditor.
    #[arg(long = "role", value_name = "R[,R...]", required = true)]
    roles: Vec<String>,
    /// Read the (one-time) password from the first line of standard input
    /// instead of generating one.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct UserPasswdArgs {
    /// The user whose password changes.
    name: String,
    /// Read the new password from the first line of standard input instead
    /// of generating one.
    #[arg(long)]
    password_stdin: bool,
    /// Change your own password on the server: standard input holds the
    /// current password on its first line and the new one on the second
    /// (this is how a one-time password is replaced).
    #[arg(long, conflicts_with = "password_stdin")]
    own: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct UserNameArgs {
    /// The user's name.
    name: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create an API token for a machine or script; its secret is printed
    /// once and only its SHA-256 is stored. Use it as `PRAMAAN_TOKEN=...`
    /// or `Authorization: Bearer ...`.
    Create(TokenCreateArgs),
    /// List the tokens (names, roles, expiry, revocation; never a secret).
    List(ListArgs),
    /// Revoke a token (by name or number); it stops working at once.
    Revoke(TokenRevokeArgs),
}

#[derive(Args, Debug)]
struct TokenCreateArgs {
    /// The token's name (unique; revoked tokens keep theirs).
    #[arg(long, value_name = "N")]
    name: String,
    /// Roles, comma-separated or repeated: admin, ingest, analyst,
    /// registry-officer, approver, poc, auditor.
    #[arg(long = "role", value_name = "R[,R...]", required = true)]
    roles: Vec<String>,
    /// When it stops working: an age like 90d or 12h, or a time (RFC 3339,
    /// a date in IST). Default: never.
    #[arg(long, value_name = "WHEN")]
    expires: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct TokenRevokeArgs {
    /// The token's name or number (see `pramaan token list`).
    name: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct Common {
    /// Base URL of a running server (default: the configured http.listen
    /// when a server holds the data directory, else work on the data
    /// directory directly, recording the change in the audit trail as
    /// `<os user> (local)`).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Search the audit trail (logins, searches, reads of personal data,
    /// exports, user and token changes...), oldest first.
    Search(AuditSearchArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
struct AuditSearchArgs {
    /// Records at or after this time: RFC 3339, a date (IST), or an age like 7d.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Records before this time, same forms as --from.
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Only this actor (a user name, or `token:<name>`).
    #[arg(long, value_name = "A")]
    actor: Option<String>,
    /// Only this action (`login`, `user.add`...), or a family with a
    /// trailing `*` (`user.*`).
    #[arg(long, value_name = "PATTERN")]
    action: Option<String>,
    /// At most this many records (0: all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    limit: usize,
    /// `table` for people, `json` for one JSON record a line.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Base URL of a running server (default: the configured http.listen
    /// when a server holds the data directory, else read the vault directly,
    /// the read itself recorded in the audit trail).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

#[derive(Args, Debug)]
pub struct TlsArgs {
    #[command(subcommand)]
    command: TlsCommand,
}

#[derive(Subcommand, Debug)]
enum TlsCommand {
    /// Write a self-signed certificate (cert.pem) and its private key
    /// (key.pem, mode 0600) for the HTTPS API and syslog over TLS, for
    /// tests and closed networks; clients trust it with e.g. `curl --cacert cert.pem`.
    SelfSigned(SelfSignedArgs),
}

#[derive(Args, Debug)]
struct SelfSignedArgs {
    /// Directory to write cert.pem and key.pem into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Host names or IP addresses the certificate is for (repeatable;
    /// default: localhost, 127.0.0.1 and ::1).
    #[arg(long = "name", value_name = "HOST")]
    names: Vec<String>,
    /// Replace cert.pem and key.pem when they exist.
    #[arg(long)]
    force: bool,
}

// ------------------------------------------------------------- helpers

fn roles_arg(roles: &[String]) -> Result<RoleSet> {
    Ok(RoleSet::parse(&roles.join(","))?)
}

/// The first `n` lines of standard input, without their line ends (each must be non-empty).
fn stdin_lines(n: usize) -> Result<Vec<String>> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading standard input")?;
    let lines: Vec<String> = s
        .lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect();
    if lines.len() < n || lines.iter().take(n).any(String::is_empty) {
        bail!("expected {n} non-empty line(s) on standard input");
    }
    Ok(lines.into_iter().take(n).collect())
}

async fn send(req: reqwest::RequestBuilder, url: &str) -> Result<Value> {
    let resp = req.send().await.with_context(|| format!("asking {url}"))?;
    Ok(client::check(resp).await?.json().await?)
}

/// Runs `op` where the data is and answers its output as JSON.
async fn run_json<O: Operation>(cfg: &Config, server: Option<&str>, op: O) -> Result<Value> {
    Ok(serde_json::to_value(run_once(cfg, server, op).await?)?)
}

fn roles_text(v: &Value) -> String {
    match v.get("roles") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("-")
}

fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

// ---------------------------------------------------------------- user

pub async fn user(cfg: &Config, a: UserArgs) -> Result<ExitCode> {
    match a.command {
        UserCommand::Add(a) => user_add(cfg, a).await,
        UserCommand::Passwd(a) => user_passwd(cfg, a).await,
        UserCommand::Disable(a) => user_disabled(cfg, a, true).await,
        UserCommand::Enable(a) => user_disabled(cfg, a, false).await,
        UserCommand::List(a) => user_list(cfg, a).await,
    }?;
    Ok(ExitCode::SUCCESS)
}

fn print_one_time(name: &str, v: &Value) {
    if let Some(p) = v.get("one_time_password").and_then(Value::as_str) {
        println!(
            "one-time password of `{name}` (shown only now; it must be changed at the first login):\n\n    {p}\n"
        );
    }
}

async fn user_add(cfg: &Config, a: UserAddArgs) -> Result<()> {
    let roles = roles_arg(&a.roles)?;
    let password = if a.password_stdin {
        Some(stdin_lines(1)?.remove(0))
    } else {
        None
    };
    let op = AddUser {
        name: a.name.clone(),
        roles: roles.to_string(),
        password,
    };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    if a.common.json {
        print_json(&v)?;
    } else {
        println!("added the user `{}` with the roles {}", a.name, roles);
        print_one_time(&a.name, &v);
    }
    Ok(())
}

/// `--own`: the user's own credentials (HTTP Basic), not $PRAMAAN_TOKEN,
/// against a running server (the server's `POST /api/v1/password`, by the
/// rules of `pramaan_app::users::password`).
async fn own_password(cfg: &Config, a: &UserPasswdArgs) -> Result<()> {
    let client::Target::Server(url) = client::target(cfg, a.common.server.as_deref()) else {
        bail!("--own changes a password through a running server; none holds the data directory (give --server URL)");
    };
    let mut l = stdin_lines(2)?;
    let (new, current) = (l.remove(1), l.remove(0));
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("building the HTTP client")?;
    let u = format!("{url}/api/v1/password");
    send(
        http.post(&u)
            .basic_auth(&a.name, Some(&current))
            .json(&serde_json::json!({ "current": current, "new": new })),
        &u,
    )
    .await?;
    println!("changed the password of `{}`", a.name);
    Ok(())
}

async fn user_passwd(cfg: &Config, a: UserPasswdArgs) -> Result<()> {
    if a.own {
        return own_password(cfg, &a).await;
    }
    let password = if a.password_stdin {
        Some(stdin_lines(1)?.remove(0))
    } else {
        None
    };
    let op = ResetPassword {
        name: a.name.clone(),
        password,
    };
    let r = Runner::open(cfg, a.common.server.as_deref()).await?;
    let remote = matches!(r, Runner::Server(_));
    let out = r.run(op).await;
    r.close().await;
    let v = out.map_err(|e| {
        if remote {
            e.context("resetting a password needs an admin token in $PRAMAAN_TOKEN; to change your own, use --own")
        } else {
            e
        }
    })?;
    if a.common.json {
        print_json(&v)?;
    } else {
        println!(
            "set a new one-time password for `{}`; it must be changed at the next login",
            a.name
        );
        print_one_time(&a.name, &v);
    }
    Ok(())
}

async fn user_disabled(cfg: &Config, a: UserNameArgs, disabled: bool) -> Result<()> {
    let server = a.common.server.as_deref();
    let name = a.name.clone();
    let v = if disabled {
        run_once(cfg, server, DisableUser { name }).await?
    } else {
        run_once(cfg, server, EnableUser { name }).await?
    };
    if a.common.json {
        print_json(&v)?;
    } else {
        let verb = if disabled { "disable" } else { "enable" };
        println!("{verb}d the user `{}`", a.name);
    }
    Ok(())
}

async fn user_list(cfg: &Config, a: ListArgs) -> Result<()> {
    let v = run_json(cfg, a.common.server.as_deref(), ListUsers {}).await?;
    if a.common.json {
        return print_json(&v);
    }
    let users = v.as_array().cloned().unwrap_or_default();
    println!("{:<24} {:<32} {:<24} CREATED", "NAME", "ROLES", "STATE");
    for u in &users {
        let state = if u["disabled"].as_bool() == Some(true) {
            "disabled"
        } else if u["must_change_password"].as_bool() == Some(true) {
            "enabled (must change pw)"
        } else {
            "enabled"
        };
        let created = u["created_at_ns"]
            .as_i64()
            .map(human)
            .unwrap_or_else(|| s(u, "created_at").to_owned());
        println!(
            "{:<24} {:<32} {:<24} {}",
            s(u, "name"),
            roles_text(u),
            state,
            created
        );
    }
    println!("{} user(s)", users.len());
    Ok(())
}

// --------------------------------------------------------------- token

pub async fn token(cfg: &Config, a: TokenArgs) -> Result<ExitCode> {
    match a.command {
        TokenCommand::Create(a) => token_create(cfg, a).await,
        TokenCommand::List(a) => token_list(cfg, a).await,
        TokenCommand::Revoke(a) => token_revoke(cfg, a).await,
    }?;
    Ok(ExitCode::SUCCESS)
}

async fn token_create(cfg: &Config, a: TokenCreateArgs) -> Result<()> {
    let roles = roles_arg(&a.roles)?;
    let op = CreateToken {
        name: a.name.clone(),
        roles: roles.to_string(),
        expires: a.expires.clone(),
    };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    if a.common.json {
        return print_json(&v);
    }
    let expires = v
        .get("expires_at")
        .and_then(Value::as_str)
        .unwrap_or("never");
    println!(
        "created the token `{}` with the roles {} (expires: {expires}); its secret, shown only now:\n\n    {}\n\nUse it as PRAMAAN_TOKEN=... or `Authorization: Bearer ...`.",
        a.name,
        roles,
        s(&v, "secret")
    );
    Ok(())
}

fn token_table(tokens: &[Value]) {
    println!(
        "{:<5} {:<24} {:<28} {:<18} {:<46} {:<46} STATE",
        "ID", "NAME", "ROLES", "CREATED BY", "CREATED", "EXPIRES"
    );
    let now = now_ns();
    for t in tokens {
        let state = if t.get("revoked_at_ns").is_some_and(|r| !r.is_null()) {
            format!("revoked by {}", s(t, "revoked_by"))
        } else if t["expires_at_ns"].as_i64().is_some_and(|e| e <= now) {
            "expired".into()
        } else {
            "active".into()
        };
        let at = |k: &str| t[k].as_i64().map(human).unwrap_or_else(|| "-".into());
        println!(
            "{:<5} {:<24} {:<28} {:<18} {:<46} {:<46} {}",
            t["id"].as_i64().unwrap_or_default(),
            s(t, "name"),
            roles_text(t),
            s(t, "created_by"),
            at("created_at_ns"),
            at("expires_at_ns"),
            state
        );
    }
    println!("{} token(s)", tokens.len());
}

async fn token_list(cfg: &Config, a: ListArgs) -> Result<()> {
    let mut v = run_json(cfg, a.common.server.as_deref(), ListTokens {}).await?;
    // Never print a secret, whatever a server sends.
    if let Some(list) = v.as_array_mut() {
        for t in list.iter_mut().filter_map(Value::as_object_mut) {
            t.remove("secret");
            t.remove("hash");
        }
    }
    if a.common.json {
        return print_json(&v);
    }
    token_table(v.as_array().map(Vec::as_slice).unwrap_or_default());
    Ok(())
}

async fn token_revoke(cfg: &Config, a: TokenRevokeArgs) -> Result<()> {
    let op = RevokeToken {
        name: a.name.clone(),
    };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    if a.common.json {
        return print_json(&v);
    }
    println!("revoked the token `{}`", s(&v, "name"));
    Ok(())
}

// --------------------------------------------------------------- audit

pub async fn audit(cfg: &Config, a: AuditArgs) -> Result<ExitCode> {
    match a.command {
        AuditCommand::Search(a) => audit_search(cfg, a).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The records a server answers to `op` (NDJSON, one a line).
async fn audit_over_http(url: &str, op: &SearchAudit) -> Result<Vec<Value>> {
    let u = format!("{url}{}", op.path());
    let resp = client::http()
        .get(&u)
        .query(op)
        .send()
        .await
        .with_context(|| format!("asking {u}"))?;
    let body = client::check(resp).await?.bytes().await?;
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice)
        .collect::<Result<_, _>>()
        .context("reading the server's audit records")
}

async fn audit_search(cfg: &Config, a: AuditSearchArgs) -> Result<()> {
    let op = SearchAudit {
        from: a.from.clone(),
        to: a.to.clone(),
        actor: a.actor.clone(),
        action: a.action.clone(),
        limit: (a.limit > 0).then_some(a.limit),
        query: None,
    };
    // The same operation both ways; only the API's answer is NDJSON.
    let r = Runner::open(cfg, a.server.as_deref()).await?;
    let recs = match &r {
        Runner::Server(url) => audit_over_http(url, &op).await,
        Runner::Local(_) => r.run(op).await,
    };
    r.close().await;
    let recs = recs?;
    match a.format {
        Format::Json => {
            for r in &recs {
                println!("{}", serde_json::to_string(r)?);
            }
        }
        Format::Table => audit_table(&recs),
    }
    Ok(())
}

fn audit_table(recs: &[Value]) {
    println!(
        "{:<8} {:<46} {:<20} {:<24} {:<24} {:<8} DETAILS",
        "SEQ", "AT (IST)", "ACTION", "ACTOR", "SUBJECT", "OUTCOME"
    );
    const FIXED: &[&str] = &["seq", "at", "action", "actor", "subject", "outcome"];
    for r in recs {
        let at = pramaan_core::time::parse_user_time(s(r, "at"), 0)
            .map(human)
            .unwrap_or_else(|_| s(r, "at").to_owned());
        let details: Vec<String> = r
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !FIXED.contains(&k.as_str()))
                    .map(|(k, v)| match v {
                        Value::String(s) => format!("{k}={s}"),
                        v => format!("{k}={v}"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "{:<8} {:<46} {:<20} {:<24} {:<24} {:<8} {}",
            r["seq"].as_u64().map(|n| n.to_string()).unwrap_or_default(),
            at,
            s(r, "action"),
            s(r, "actor"),
            s(r, "subject"),
            s(r, "outcome"),
            details.join(" ")
        );
    }
    println!("{} record(s)", recs.len());
}

// ----------------------------------------------------------------- tls

pub fn tls(a: TlsArgs) -> Result<ExitCode> {
    match a.command {
        TlsCommand::SelfSigned(a) => self_signed(a)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    let mut f = o.open(path).with_context(|| {
        if path.exists() && !force {
            format!(
                "{} exists already (use --force to replace it)",
                path.display()
            )
        } else {
            format!("writing {}", path.display())
        }
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn self_signed(a: SelfSignedArgs) -> Result<()> {
    let names = if a.names.is_empty() {
        vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()]
    } else {
        a.names.clone()
    };
    let mut params = rcgen::CertificateParams::new(names.clone())
        .with_context(|| format!("the names {names:?}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0].clone());
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "pramaan (self-signed)");
    let key = rcgen::KeyPair::generate().context("generating the key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let (cert_path, key_path) = (a.out.join("cert.pem"), a.out.join("key.pem"));
    if !a.force {
        for p in [&cert_path, &key_path] {
            if p.exists() {
                bail!("{} exists already (use --force to replace it)", p.display());
            }
        }
    }
    write_file(&key_path, key.serialize_pem().as_bytes(), 0o600, a.force)?;
    write_file(&cert_path, cert.pem().as_bytes(), 0o644, a.force)?;
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let (c, k) = (abs(&cert_path), abs(&key_path));
    println!(
        "wrote {} and {} (mode 0600) for {}\n\nUse them in pramaan.toml:\n\n[http]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n[syslog]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\nor as PRAMAAN_HTTP_TLS_CERT / PRAMAAN_HTTP_TLS_KEY and PRAMAAN_SYSLOG_TLS_CERT / PRAMAAN_SYSLOG_TLS_KEY.\nClients trust it with e.g. `curl --cacert {}`.",
        c.display(),
        k.display(),
        names.join(", "),
        c.display(),
        k.display(),
        c.display(),
        k.display(),
        c.display(),
    );
    Ok(())
}
