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
    "ANB_INSTANCE_ID",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

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
    pub aws: AwsSettings,
}

/// What S3 and SQS clients need beyond the standard AWS chain. Unset fields fall back to
/// the chain (profile, instance role, region from the profile).
#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    /// An S3/SQS-compatible endpoint (moto, MinIO, LocalStack).
    pub endpoint: Option<String>,
    pub credentials: Option<StaticCredentials>,
}

#[derive(Clone, Debug)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// Where the relational data lives.
#[derive(Clone, Debug, PartialEq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
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
        Ok(DatabaseUrl::Postgres(url.to_string()))
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
        value: value.to_string(),
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
    fn secrets_do_not_leak_through_debug() {
        let s = settings(&[("ANB_JWT_SECRET", &"k".repeat(40))]).unwrap();
        assert!(!format!("{s:?}").contains("kkkk"));
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
        let readme = include_str!("../README.md");
        for var in VARIABLES {
            assert!(
                readme.contains(var),
                "{var} is not documented in target-stack/README.md"
            );
        }
    }
}
