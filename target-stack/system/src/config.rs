//! Typed settings, read once from environment variables.
//!
//! With nothing set, everything runs embedded under `./anb-data`: a SQLite file, a storage
//! directory and a durable local queue. Each concern switches to its AWS backend on its own
//! variable. The full table is in `target-stack/README.md`; [`Settings::from_lookup`] is the
//! only parser, so the table and the code cannot disagree for long (a test checks each
//! documented variable is read).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Every environment variable the settings read, in documentation order.
pub const VARIABLES: &[&str] = &[
    "ANB_DATA_DIR",
    "DATABASE_URL",
    "ANB_STORAGE",
    "ANB_QUEUE",
    "ANB_DLQ",
    "ANB_QUEUE_VISIBILITY_SECS",
    "ANB_QUEUE_MAX_RECEIVES",
    "ANB_JWT_SECRET",
    "ANB_TOKEN_TTL_SECS",
    "ANB_MAX_UPLOAD_BYTES",
    "ANB_BIND",
    "ANB_HASH_CONCURRENCY",
    "ANB_HASH_QUEUE",
    "ANB_HASH_WAIT_SECS",
    "ANB_LOGIN_LIMIT_PER_ACCOUNT",
    "ANB_LOGIN_LIMIT_PER_ADDRESS",
    "ANB_TRUST_FORWARDED_FOR",
    "ANB_MAX_JSON_BODY_BYTES",
    "ANB_MAX_FORM_FIELD_BYTES",
    "ANB_HEADER_READ_TIMEOUT_SECS",
    "ANB_BODY_READ_TIMEOUT_SECS",
    "ANB_BODY_MIN_BYTES_PER_SEC",
    "ANB_WORKER_CONCURRENCY",
    "ANB_RETRY_DELAY_SECS",
    "ANB_FFMPEG",
    "ANB_MAX_CLIP_SECS",
    "ANB_BUMPER_SECS",
    "ANB_INFERENCE_SLOW_FRACTION",
    "ANB_INSTANCE_ID",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// `value` is kept with its secrets redacted ([`redact_secrets`]): a mistyped
/// `DATABASE_URL` must not print its password.
#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?} is not valid: {reason}")]
pub struct ConfigError {
    variable: &'static str,
    value: String,
    reason: String,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub storage: StorageLocation,
    pub queue: QueueSettings,
    pub auth: AuthSettings,
    pub api: ApiSettings,
    pub worker: WorkerSettings,
    pub inference: InferenceSettings,
    pub aws: AwsSettings,
}

/// What S3 and SQS clients need beyond the standard AWS chain. Unset fields fall back to
/// the chain (profile, instance role, region from the profile). Its `Debug` redacts the
/// endpoint's password, if the URL carries one.
#[derive(Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    /// An S3/SQS-compatible endpoint (moto, MinIO, LocalStack).
    pub endpoint: Option<String>,
    pub credentials: Option<StaticCredentials>,
}

impl std::fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSettings")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint.as_deref().map(redact_secrets))
            .field("credentials", &self.credentials)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// Where the relational data lives. `Display` and `Debug` show a PostgreSQL URL with its
/// password as `***`; only [`ConnectionUrl::expose`] gives the real one, to the driver.
#[derive(Clone, Debug, PartialEq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(ConnectionUrl),
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => url.fmt(f),
        }
    }
}

/// A connection URL that may carry a secret (`user:password@`, or `?password=…`): it
/// displays and debugs redacted, so that error messages and logs can name it freely.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionUrl(String);

impl ConnectionUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its secrets, for the client that connects and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` (say, a driver's error message) with this URL, and its password wherever it
    /// appears on its own, redacted. Passwords shorter than 4 characters are replaced only
    /// inside the URL: replacing every "ab" in a message would garble it.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = redact_secrets(&text.replace(&self.0, &redact_secrets(&self.0)));
        if let Some(password) = url_password(&self.0).filter(|p| p.len() >= 4) {
            text = text.replace(password, "***");
        }
        text
    }
}

impl std::fmt::Display for ConnectionUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_secrets(&self.0))
    }
}

impl std::fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact_secrets(&self.0))
    }
}

/// Query parameters whose values are secrets (matched case-insensitively, as substrings:
/// `password`, `sslpassword`, `X-Amz-Signature`, `access_token`, `api_key`…).
const SECRET_PARAMETERS: &[&str] = &["pass", "secret", "token", "signature", "credential", "key"];

/// `text` with the secrets of every URL in it replaced by `***`: the password of a
/// `scheme://user:password@host` and the values of secret-looking query parameters. Works
/// on a bare URL and on free text that contains URLs (an error message, a `Debug` dump).
pub fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // A URL ends at whitespace or at a quote or bracket that encloses it.
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        redact_url_body(url, &mut out);
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Redacts the part of a URL after `scheme://` into `out`.
fn redact_url_body(url: &str, out: &mut String) {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, rest) = url.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    let Some((path, query)) = rest.split_once('?') else {
        out.push_str(rest);
        return;
    };
    out.push_str(path);
    out.push('?');
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_parameter(key) => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect();
    out.push_str(&pairs.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
}

fn is_secret_parameter(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_PARAMETERS.iter().any(|s| key.contains(s))
}

/// The password in a URL's userinfo, as written (percent-encoded or not).
fn url_password(url: &str) -> Option<&str> {
    let after = &url[url.find("://")? + 3..];
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    userinfo
        .split_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
}

/// Where uploaded and processed videos live.
#[derive(Clone, Debug, PartialEq)]
pub enum StorageLocation {
    Directory(PathBuf),
    /// `s3://bucket/optional/prefix`. Endpoint, region and credentials come from the standard
    /// AWS variables (`AWS_ENDPOINT_URL` for S3-compatible services such as moto or MinIO).
    S3 {
        bucket: String,
        prefix: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum QueueLocation {
    /// The durable local queue: a SQLite file that several processes share.
    Local(PathBuf),
    /// An SQS queue URL, with the URL of its dead-letter queue when known.
    Sqs {
        queue_url: String,
        dlq_url: Option<String>,
    },
}

#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub location: QueueLocation,
    /// How long a received task stays invisible to other workers (SQS VisibilityTimeout).
    pub visibility_timeout: Duration,
    /// Receives after which a task goes to the dead-letter queue (SQS maxReceiveCount). For
    /// SQS the queue's own redrive policy decides; this value must match it.
    pub max_receives: u32,
}

#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// `None` on embedded backends means "generate one and keep it in the data directory".
    pub jwt_secret: Option<Secret>,
    pub token_ttl: Duration,
}

#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub bind: SocketAddr,
    pub max_upload_bytes: u64,
    pub limits: ApiLimits,
}

/// What bounds the API's memory and connections under floods and slow clients
/// (target-stack/README.md, "Limits under load").
#[derive(Clone, Debug, PartialEq)]
pub struct ApiLimits {
    /// Password hashes (argon2id, 19 MiB each) computed at once.
    pub hash_concurrency: usize,
    /// Logins and signups that may wait for a hashing slot; more are answered 503 at once.
    pub hash_queue: usize,
    /// The longest one waits for a hashing slot before it is answered 503.
    pub hash_wait: Duration,
    /// Login attempts per e-mail per minute (0: unlimited).
    pub logins_per_account: u32,
    /// Login attempts per client address per minute (0: unlimited).
    pub logins_per_address: u32,
    /// Take the client's address from X-Forwarded-For's last entry (the address the balancer
    /// saw): only behind a balancer that appends it (ALB, the local stack's).
    pub trust_forwarded_for: bool,
    /// The largest request body of every route but the upload.
    pub max_json_body_bytes: usize,
    /// The largest multipart field other than the file (the title).
    pub max_form_field_bytes: usize,
    /// How long a connection may take to send a request's headers; hyper's same timer
    /// closes idle keep-alive connections, so it must exceed any balancer's idle timeout.
    pub header_read_timeout: Duration,
    /// A request body must bring `body_min_bytes_per_sec` × this many bytes in every window
    /// of this length, or it is refused with 408.
    pub body_read_timeout: Duration,
    pub body_min_bytes_per_sec: u64,
}

impl Default for ApiLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            hash_concurrency: cores,
            hash_queue: 32,
            hash_wait: Duration::from_secs(2),
            logins_per_account: 10,
            logins_per_address: 600,
            trust_forwarded_for: false,
            max_json_body_bytes: 64 * 1024,
            max_form_field_bytes: 1024,
            // Above ALB's idle timeout in infra/templates/aforo.yaml (120 s), as AWS advises
            // for targets' keep-alive, so the balancer never reuses a connection we close.
            header_read_timeout: Duration::from_secs(130),
            body_read_timeout: Duration::from_secs(30),
            body_min_bytes_per_sec: 1024,
        }
    }
}

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub concurrency: usize,
    /// How long a failed task waits before it is tried again.
    pub retry_delay: Duration,
    pub ffmpeg: PathBuf,
    pub max_clip: Duration,
    /// Length of each of the intro and outro bumpers.
    pub bumper: Duration,
    /// The name task runs are recorded under: the instance id the stack (or EC2 user data)
    /// gives, else `<host>-<pid>`.
    pub instance_id: String,
}

/// The inference service's options (`target-stack inference`, seed 000's app).
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceSettings {
    /// The share of `/predict` requests that sleep 0.5–2 s before answering, as seed 000's
    /// app does with 0.1; 0 (the default) turns it off.
    pub slow_fraction: SlowFraction,
}

/// A share of requests in `0.0..=1.0`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct SlowFraction(f64);

impl SlowFraction {
    pub const OFF: Self = Self(0.0);

    pub fn new(value: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!(
                "{value} is not a share of requests: use a number from 0 (off) to 1 (every \
                 request); seed 000 uses 0.1"
            ))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl FromStr for SlowFraction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let value: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a number; use a share from 0 to 1, e.g. 0.1"))?;
        Self::new(value)
    }
}

fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}-{}", std::process::id())
}

/// A secret that never shows up in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of touching the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let data_dir = PathBuf::from(get("ANB_DATA_DIR").unwrap_or_else(|| "anb-data".into()));

        let database = match get("DATABASE_URL") {
            None => DatabaseUrl::Sqlite(data_dir.join("anb.sqlite3")),
            Some(url) => parse_database_url(&url)?,
        };
        let storage = match get("ANB_STORAGE") {
            None => StorageLocation::Directory(data_dir.join("storage")),
            Some(value) => parse_storage(&value)?,
        };
        let location = match get("ANB_QUEUE") {
            None => QueueLocation::Local(data_dir.join("queue.sqlite3")),
            Some(v) if v.starts_with("https://") || v.starts_with("http://") => {
                QueueLocation::Sqs {
                    queue_url: v,
                    dlq_url: get("ANB_DLQ"),
                }
            }
            Some(path) => QueueLocation::Local(PathBuf::from(path)),
        };
        let max_receives: u32 = parsed(&get, "ANB_QUEUE_MAX_RECEIVES", 3)?;
        if max_receives == 0 {
            return Err(invalid("ANB_QUEUE_MAX_RECEIVES", "0", "must be at least 1"));
        }

        Ok(Settings {
            database,
            storage,
            queue: QueueSettings {
                location,
                visibility_timeout: seconds(&get, "ANB_QUEUE_VISIBILITY_SECS", 60.0)?,
                max_receives,
            },
            auth: AuthSettings {
                jwt_secret: match get("ANB_JWT_SECRET") {
                    Some(s) if s.len() < 32 => {
                        return Err(invalid(
                            "ANB_JWT_SECRET",
                            "<hidden>",
                            "must be at least 32 characters (try `openssl rand -hex 32`)",
                        ));
                    }
                    other => other.map(Secret),
                },
                token_ttl: seconds(&get, "ANB_TOKEN_TTL_SECS", 3600.0)?,
            },
            api: ApiSettings {
                bind: parsed(&get, "ANB_BIND", SocketAddr::from(([127, 0, 0, 1], 8000)))?,
                max_upload_bytes: parsed(&get, "ANB_MAX_UPLOAD_BYTES", 100 * 1024 * 1024)?,
                limits: api_limits(&get)?,
            },
            worker: WorkerSettings {
                concurrency: parsed(&get, "ANB_WORKER_CONCURRENCY", 2)?.max(1),
                retry_delay: seconds(&get, "ANB_RETRY_DELAY_SECS", 10.0)?,
                ffmpeg: PathBuf::from(get("ANB_FFMPEG").unwrap_or_else(|| "ffmpeg".into())),
                max_clip: seconds(&get, "ANB_MAX_CLIP_SECS", 30.0)?,
                bumper: seconds(&get, "ANB_BUMPER_SECS", 2.5)?,
                instance_id: get("ANB_INSTANCE_ID").unwrap_or_else(default_instance_id),
            },
            inference: InferenceSettings {
                slow_fraction: parsed(&get, "ANB_INFERENCE_SLOW_FRACTION", SlowFraction::OFF)?,
            },
            aws: AwsSettings {
                region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
                endpoint: get("AWS_ENDPOINT_URL"),
                credentials: match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
                    (Some(access_key_id), Some(secret)) => Some(StaticCredentials {
                        access_key_id,
                        secret_access_key: Secret(secret),
                        session_token: get("AWS_SESSION_TOKEN").map(Secret),
                    }),
                    _ => None,
                },
            },
            data_dir,
        })
    }

    /// True when every backend is embedded (no external service is needed).
    pub fn is_embedded(&self) -> bool {
        matches!(self.database, DatabaseUrl::Sqlite(_))
    }
}

fn api_limits(get: &impl Fn(&str) -> Option<String>) -> Result<ApiLimits, ConfigError> {
    let default = ApiLimits::default();
    let hash_concurrency: usize = parsed(get, "ANB_HASH_CONCURRENCY", default.hash_concurrency)?;
    if hash_concurrency == 0 {
        return Err(invalid(
            "ANB_HASH_CONCURRENCY",
            "0",
            "must be at least 1 (the number of cores is a good value)",
        ));
    }
    let header_read_timeout = seconds(
        get,
        "ANB_HEADER_READ_TIMEOUT_SECS",
        default.header_read_timeout.as_secs_f64(),
    )?;
    let body_read_timeout = seconds(
        get,
        "ANB_BODY_READ_TIMEOUT_SECS",
        default.body_read_timeout.as_secs_f64(),
    )?;
    for (name, value) in [
        ("ANB_HEADER_READ_TIMEOUT_SECS", header_read_timeout),
        ("ANB_BODY_READ_TIMEOUT_SECS", body_read_timeout),
    ] {
        if value.is_zero() {
            return Err(invalid(name, "0", "must be more than 0 seconds"));
        }
    }
    Ok(ApiLimits {
        hash_concurrency,
        hash_queue: parsed(get, "ANB_HASH_QUEUE", default.hash_queue)?,
        hash_wait: seconds(get, "ANB_HASH_WAIT_SECS", default.hash_wait.as_secs_f64())?,
        logins_per_account: parsed(
            get,
            "ANB_LOGIN_LIMIT_PER_ACCOUNT",
            default.logins_per_account,
        )?,
        logins_per_address: parsed(
            get,
            "ANB_LOGIN_LIMIT_PER_ADDRESS",
            default.logins_per_address,
        )?,
        trust_forwarded_for: parsed(get, "ANB_TRUST_FORWARDED_FOR", default.trust_forwarded_for)?,
        max_json_body_bytes: parsed(get, "ANB_MAX_JSON_BODY_BYTES", default.max_json_body_bytes)?,
        max_form_field_bytes: parsed(
            get,
            "ANB_MAX_FORM_FIELD_BYTES",
            default.max_form_field_bytes,
        )?,
        header_read_timeout,
        body_read_timeout,
        body_min_bytes_per_sec: parsed(
            get,
            "ANB_BODY_MIN_BYTES_PER_SEC",
            default.body_min_bytes_per_sec,
        )?,
    })
}

fn parse_database_url(url: &str) -> Result<DatabaseUrl, ConfigError> {
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
    {
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(invalid("DATABASE_URL", url, "the SQLite URL names no file"));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DatabaseUrl::Postgres(ConnectionUrl::new(url)))
    } else {
        Err(invalid(
            "DATABASE_URL",
            url,
            "use postgres://user:password@host/db, or sqlite://path/to/file.sqlite3",
        ))
    }
}

fn parse_storage(value: &str) -> Result<StorageLocation, ConfigError> {
    match value.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("ANB_STORAGE", value, "use s3://bucket[/prefix]"));
            }
            Ok(StorageLocation::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            })
        }
        None => Ok(StorageLocation::Directory(PathBuf::from(value))),
    }
}

fn parsed<T: FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| invalid(name, &raw, &e.to_string())),
    }
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
) -> Result<Duration, ConfigError> {
    let value: f64 = parsed(get, name, default)?;
    Duration::try_from_secs_f64(value).map_err(|_| {
        invalid(
            name,
            &value.to_string(),
            "must be a non-negative number of seconds",
        )
    })
}

fn invalid(variable: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError {
        variable,
        value: redact_secrets(value),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn nothing_set_means_everything_embedded_under_the_data_dir() {
        let s = settings(&[("ANB_DATA_DIR", "/tmp/x")]).unwrap();
        assert_eq!(s.database, DatabaseUrl::Sqlite("/tmp/x/anb.sqlite3".into()));
        assert_eq!(
            s.storage,
            StorageLocation::Directory("/tmp/x/storage".into())
        );
        assert_eq!(
            s.queue.location,
            QueueLocation::Local("/tmp/x/queue.sqlite3".into())
        );
        assert_eq!(s.api.max_upload_bytes, 100 * 1024 * 1024);
        assert_eq!(s.auth.token_ttl, Duration::from_secs(3600));
        assert!(s.is_embedded());
    }

    #[test]
    fn aws_backends_are_chosen_per_variable() {
        let s = settings(&[
            ("DATABASE_URL", "postgres://u@db/anb"),
            ("ANB_STORAGE", "s3://videos/anb/"),
            ("ANB_QUEUE", "https://sqs.us-east-1.amazonaws.com/1/tasks"),
            ("ANB_DLQ", "https://sqs.us-east-1.amazonaws.com/1/tasks-dlq"),
        ])
        .unwrap();
        assert!(matches!(s.database, DatabaseUrl::Postgres(_)));
        assert_eq!(
            s.storage,
            StorageLocation::S3 {
                bucket: "videos".into(),
                prefix: "anb".into()
            }
        );
        assert!(matches!(
            s.queue.location,
            QueueLocation::Sqs {
                dlq_url: Some(_),
                ..
            }
        ));
        assert!(!s.is_embedded());
    }

    #[test]
    fn bad_values_name_the_variable_and_the_fix() {
        let err = settings(&[("DATABASE_URL", "mysql://x")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DATABASE_URL") && err.contains("postgres://"),
            "{err}"
        );
        let err = settings(&[("ANB_WORKER_CONCURRENCY", "many")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ANB_WORKER_CONCURRENCY"), "{err}");
        let err = settings(&[("ANB_JWT_SECRET", "short")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("32 characters") && !err.contains("short\""),
            "{err}"
        );
        let err = settings(&[("ANB_QUEUE_VISIBILITY_SECS", "-1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ANB_QUEUE_VISIBILITY_SECS"), "{err}");
    }

    #[test]
    fn api_limits_have_defaults_and_refuse_zero_where_zero_breaks() {
        let limits = settings(&[]).unwrap().api.limits;
        assert_eq!(limits, ApiLimits::default());
        assert!(limits.hash_concurrency >= 1);
        assert_eq!(limits.max_json_body_bytes, 65536);
        assert!(!limits.trust_forwarded_for);
        let set = settings(&[
            ("ANB_HASH_CONCURRENCY", "3"),
            ("ANB_LOGIN_LIMIT_PER_ACCOUNT", "0"),
            ("ANB_TRUST_FORWARDED_FOR", "true"),
            ("ANB_HEADER_READ_TIMEOUT_SECS", "0.5"),
        ])
        .unwrap()
        .api
        .limits;
        assert_eq!(set.hash_concurrency, 3);
        assert_eq!(set.logins_per_account, 0);
        assert!(set.trust_forwarded_for);
        assert_eq!(set.header_read_timeout, Duration::from_millis(500));
        for (name, value) in [
            ("ANB_HASH_CONCURRENCY", "0"),
            ("ANB_HEADER_READ_TIMEOUT_SECS", "0"),
            ("ANB_BODY_READ_TIMEOUT_SECS", "0"),
            ("ANB_TRUST_FORWARDED_FOR", "yes"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn the_inference_slow_fraction_is_off_by_default_and_a_share() {
        assert_eq!(
            settings(&[]).unwrap().inference.slow_fraction,
            SlowFraction::OFF
        );
        let s = settings(&[("ANB_INFERENCE_SLOW_FRACTION", "0.1")]).unwrap();
        assert_eq!(s.inference.slow_fraction.get(), 0.1);
        for bad in ["1.5", "-0.1", "ten", "NaN"] {
            let err = settings(&[("ANB_INFERENCE_SLOW_FRACTION", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("ANB_INFERENCE_SLOW_FRACTION") && err.contains("from 0"),
                "{err}"
            );
        }
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let s = settings(&[("ANB_JWT_SECRET", &"k".repeat(40))]).unwrap();
        assert!(!format!("{s:?}").contains("kkkk"));
    }

    #[test]
    fn database_passwords_never_show_in_debug_display_or_errors() {
        let url = "postgres://u:secretpw@127.0.0.1:1/db";
        let s = settings(&[("DATABASE_URL", url)]).unwrap();
        let shown = [
            format!("{s:?}"),
            format!("{:?}", s.database),
            s.database.to_string(),
        ];
        for text in &shown {
            assert!(!text.contains("secretpw"), "{text}");
            assert!(text.contains("postgres://u:***@127.0.0.1:1/db"), "{text}");
        }
        let DatabaseUrl::Postgres(connection) = &s.database else {
            panic!("{s:?}")
        };
        assert_eq!(connection.expose(), url, "the driver gets the real URL");
        // A driver's message that echoes the URL, or the password alone.
        let scrubbed = connection.scrub(&format!("cannot reach {url}: password secretpw refused"));
        assert!(!scrubbed.contains("secretpw"), "{scrubbed}");
        // A refused value is shown redacted too.
        let err = settings(&[("DATABASE_URL", "mysql://u:secretpw@db/anb")])
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("secretpw") && err.contains("mysql://u:***@db/anb"),
            "{err}"
        );
    }

    #[test]
    fn an_endpoint_with_credentials_is_redacted_in_debug() {
        let s = settings(&[("AWS_ENDPOINT_URL", "http://minio:secretpw@127.0.0.1:9000")]).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("secretpw"), "{shown}");
        assert!(shown.contains("http://minio:***@127.0.0.1:9000"), "{shown}");
    }

    #[test]
    fn redaction_covers_userinfo_and_secret_query_parameters_in_free_text() {
        for (text, redacted) in [
            ("postgres://u:p@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://h/db?user=u&password=p&sslmode=require",
                "postgres://h/db?user=u&password=***&sslmode=require",
            ),
            (
                "https://sqs.us-east-1.amazonaws.com/1/tasks",
                "https://sqs.us-east-1.amazonaws.com/1/tasks",
            ),
            (
                "s3://b/k?X-Amz-Signature=abc#f",
                "s3://b/k?X-Amz-Signature=***#f",
            ),
            // A password with '@' in it: the host is after the last '@'.
            ("postgres://u:p@ss@h:5432/db", "postgres://u:***@h:5432/db"),
            (
                "error: Postgres(\"postgres://u:p@h/db\") and postgres://v:q@g/x.",
                "error: Postgres(\"postgres://u:***@h/db\") and postgres://v:***@g/x.",
            ),
            ("no url here: a:b@c", "no url here: a:b@c"),
        ] {
            assert_eq!(redact_secrets(text), redacted, "{text}");
        }
    }

    #[test]
    fn every_documented_variable_is_read() {
        // Some variables are read only in context (ANB_DLQ with an SQS queue, the session
        // token with static keys): look at an embedded and an AWS configuration.
        let seen = std::cell::RefCell::new(Vec::new());
        let aws: HashMap<&str, &str> = [
            ("ANB_QUEUE", "https://sqs.us-east-1.amazonaws.com/1/q"),
            ("AWS_ACCESS_KEY_ID", "id"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]
        .into();
        for vars in [HashMap::new(), aws] {
            Settings::from_lookup(|k| {
                seen.borrow_mut().push(k.to_string());
                vars.get(k).map(|v| v.to_string())
            })
            .unwrap();
        }
        for var in VARIABLES {
            assert!(
                seen.borrow().iter().any(|s| s == var),
                "{var} is never read"
            );
        }
        let readme = include_str!("../../README.md");
        for var in VARIABLES {
            assert!(
                readme.contains(var),
                "{var} is not documented in target-stack/README.md"
            );
        }
    }
}
