//! Passwords (argon2id) and access tokens (HS256 JWT that expire).
//!
//! Hashing is deliberately expensive, so it runs on the blocking pool and never stalls the
//! request threads. Each hash also takes 19 MiB, so the API hashes through a [`HashGate`]:
//! a few at once, a short queue, and "busy" for the rest, which bounds its memory under a
//! flood of logins. The signing secret comes only from `ANB_JWT_SECRET`; on embedded
//! backends, when it is unset, one is generated once and kept (mode 0600) in the data
//! directory so that several local API processes accept each other's tokens.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::config::{ApiLimits, Secret, Settings};
use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is invalid or has expired")]
    BadToken,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(
        "ANB_JWT_SECRET is not set; it is required with DATABASE_URL=postgres://… \
         (generate one with `openssl rand -hex 32`)"
    )]
    MissingSecret,
    #[error("could not read or create the token secret file {path}: {source}")]
    SecretFile {
        path: String,
        source: std::io::Error,
    },
}

/// Hashes a password with argon2id and a random salt (PHC string), without a bound: for
/// tools that create users one at a time (the API goes through a [`HashGate`]).
pub async fn hash_password(password: Password) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| AuthError::Hashing(e.to_string()))?
}

/// Too many hashes are running or waiting: the caller should answer 503 and come back later.
#[derive(Debug, PartialEq, Eq)]
pub struct HashingBusy {
    /// When a retry has a fair chance: the longest a waiting hash waits.
    pub retry_after: Duration,
}

/// Bounds password hashing: at most `concurrency` hashes run at once (each holds argon2's
/// 19 MiB), at most `queue` more wait for a slot, none waits longer than `wait`. The rest
/// are refused at once, which costs nothing. Waiting is cheap (a parked future), so the
/// queue absorbs bursts; a longer one would only turn fast 503s into slow ones.
#[derive(Debug, Clone)]
pub struct HashGate {
    /// Running hashes.
    slots: Arc<Semaphore>,
    /// Running plus waiting hashes.
    admitted: Arc<Semaphore>,
    wait: Duration,
    metrics: HashMetrics,
}

/// What `/metrics` shows of the gate.
#[derive(Debug, Clone, Default)]
struct HashMetrics {
    in_flight: Gauge,
    /// The most that ever ran at once: a test (and an operator) checks the bound held.
    in_flight_peak: Gauge,
    waiting: Gauge,
    refused: Counter,
}

impl HashGate {
    pub fn new(limits: &ApiLimits) -> Self {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(return_hash_buffers_to_the_os);
        let concurrency = limits.hash_concurrency.max(1);
        Self {
            slots: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(Semaphore::new(concurrency + limits.hash_queue)),
            wait: limits.hash_wait,
            metrics: HashMetrics::default(),
        }
    }

    /// Adds the gate's gauges to the API's registry.
    pub fn register(&self, registry: &mut Registry) {
        let m = &self.metrics;
        registry.register(
            "password_hashes_in_flight",
            "Password hashes (argon2id, 19 MiB each) computing now",
            m.in_flight.clone(),
        );
        registry.register(
            "password_hashes_in_flight_peak",
            "The most password hashes that computed at once since the start",
            m.in_flight_peak.clone(),
        );
        registry.register(
            "password_hashes_waiting",
            "Password hashes waiting for a slot",
            m.waiting.clone(),
        );
        registry.register(
            "password_hashes_refused",
            "Logins and signups answered 503 because hashing was saturated",
            m.refused.clone(),
        );
    }

    /// Hashes a new password, or says the gate is full.
    pub async fn hash(&self, password: Password) -> Result<Result<String, AuthError>, HashingBusy> {
        self.run(move || hash_now(&password))
            .await
            .map(|outcome| outcome.and_then(|hashed| hashed))
    }

    /// Checks a password against a stored hash, or says the gate is full. With no hash
    /// (unknown user) it still does the work of one verification, so response time does not
    /// tell which e-mails exist.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashingBusy> {
        self.run(move || verify_now(&password, stored))
            .await
            .map(|outcome| outcome.unwrap_or(false))
    }

    /// Runs `work` on the blocking pool once a slot is free. The permits move into the
    /// blocking task, so a client that hangs up does not free its slot before the hash
    /// (and its memory) is done.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Result<T, AuthError>, HashingBusy> {
        let busy = || {
            self.metrics.refused.inc();
            HashingBusy {
                retry_after: self.wait.max(Duration::from_secs(1)),
            }
        };
        let Ok(admitted) = Arc::clone(&self.admitted).try_acquire_owned() else {
            return Err(busy());
        };
        let slot = {
            // A guard, not a plain dec(): the future may be dropped while it waits.
            let _waiting = GaugeUp::new(&self.metrics.waiting);
            tokio::time::timeout(self.wait, Arc::clone(&self.slots).acquire_owned()).await
        };
        let Ok(Ok(slot)) = slot else {
            return Err(busy());
        };
        let metrics = self.metrics.clone();
        let running = tokio::task::spawn_blocking(move || {
            let now = metrics.in_flight.inc() + 1;
            metrics
                .in_flight_peak
                .inner()
                .fetch_max(now, std::sync::atomic::Ordering::Relaxed);
            let outcome = work();
            metrics.in_flight.dec();
            drop((slot, admitted));
            outcome
        });
        Ok(running.await.map_err(|e| AuthError::Hashing(e.to_string())))
    }
}

/// Makes glibc give argon2's 19 MiB buffers back to the system when a hash ends.
///
/// By default glibc raises its mmap threshold to the size of the largest block freed (up to
/// 32 MiB): after the first hash, every 19 MiB buffer comes from a per-thread arena instead
/// of its own mapping, and arenas keep freed memory. Hashes run on whichever blocking-pool
/// thread is free, so over a burst up to 8 arenas per core each kept one or two buffers:
/// with 2 hashes at a time the API still grew to 556 MiB and stayed there
/// (bench/login_flood.py). A fixed threshold stops that adjustment: blocks this large are
/// always mapped apart and unmapped when freed.
fn return_hash_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 4 * 1024 * 1024;
        // SAFETY: mallopt only sets a tuning parameter of the allocator; it is thread-safe
        // and takes no pointers.
        #[allow(unsafe_code)]
        let applied = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) };
        if applied != 1 {
            tracing::warn!("could not set glibc's mmap threshold; hash buffers may be kept");
        }
    }
}

/// Counts one in a gauge while it lives.
struct GaugeUp<'a>(&'a Gauge);

impl<'a> GaugeUp<'a> {
    fn new(gauge: &'a Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for GaugeUp<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn hash_now(password: &Password) -> Result<String, AuthError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| AuthError::Hashing(e.to_string()))?;
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

fn verify_now(password: &str, stored: Option<String>) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                         7i2BqGY0uBzPrSbVHZzXv0f1f4n9lq1H0ZXm5Q2l1yQ";
    let known = stored.is_some();
    let hash = stored.unwrap_or_else(|| DUMMY.to_string());
    let Ok(parsed) = PasswordHash::new(&hash) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    known && ok
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

/// Issues and checks access tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn new(secret: &Secret, ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user_id: i64) -> String {
        self.issue_at(user_id, time::OffsetDateTime::now_utc().unix_timestamp())
    }

    /// Issues a token as if at `issued_at` (Unix seconds); tests use it to make expired ones.
    pub fn issue_at(&self, user_id: i64, issued_at: i64) -> String {
        let claims = Claims {
            sub: user_id.to_string(),
            iat: issued_at,
            exp: issued_at + self.ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail")
    }

    /// The user id the token was issued to, if it is authentic and not expired.
    pub fn verify(&self, token: &str) -> Result<i64, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| AuthError::BadToken)?;
        data.claims.sub.parse().map_err(|_| AuthError::BadToken)
    }
}

/// The configured secret, or on embedded backends the one kept in the data directory.
pub fn resolve_secret(settings: &Settings) -> Result<Secret, AuthError> {
    if let Some(secret) = &settings.auth.jwt_secret {
        return Ok(secret.clone());
    }
    if !settings.is_embedded() {
        return Err(AuthError::MissingSecret);
    }
    load_or_create_secret(&settings.data_dir.join("jwt-secret"))
}

fn load_or_create_secret(path: &Path) -> Result<Secret, AuthError> {
    let wrap = |source| AuthError::SecretFile {
        path: path.display().to_string(),
        source,
    };
    if let Ok(existing) = std::fs::read_to_string(path)
        && existing.trim().len() >= 32
    {
        return Ok(Secret::new(existing.trim().to_string()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(wrap)?;
    }
    let secret: String = rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // Write to a private temp file and rename: processes starting together agree on one file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(wrap)?;
        file.write_all(secret.as_bytes()).map_err(wrap)?;
    }
    match std::fs::hard_link(&tmp, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
            tracing::info!(path = %path.display(), "generated a token secret for the embedded backends");
            Ok(Secret::new(secret))
        }
        Err(_) => {
            // Another process won the race: use its secret.
            let _ = std::fs::remove_file(&tmp);
            let existing = std::fs::read_to_string(path).map_err(wrap)?;
            Ok(Secret::new(existing.trim().to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(secret: &str) -> Tokens {
        Tokens::new(&Secret::new(secret.repeat(32)), Duration::from_secs(3600))
    }

    #[test]
    fn a_token_verifies_with_its_own_secret_only() {
        let token = tokens("a").issue(42);
        assert_eq!(tokens("a").verify(&token).unwrap(), 42);
        assert!(tokens("b").verify(&token).is_err());
        assert!(tokens("a").verify("not.a.token").is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let t = tokens("a");
        let old = t.issue_at(1, time::OffsetDateTime::now_utc().unix_timestamp() - 3601);
        assert!(t.verify(&old).is_err());
    }

    #[tokio::test]
    async fn passwords_hash_with_salt_and_verify() {
        let gate = HashGate::new(&ApiLimits::default());
        let verify =
            |password: &str, stored: Option<&String>| gate.verify(password.into(), stored.cloned());
        let one = hash_password(Password::parse("correct horse").unwrap())
            .await
            .unwrap();
        let two = gate
            .hash(Password::parse("correct horse").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_ne!(one, two, "salts must differ");
        assert!(one.starts_with("$argon2id$"));
        assert!(verify("correct horse", Some(&one)).await.unwrap());
        assert!(verify("correct horse", Some(&two)).await.unwrap());
        assert!(!verify("wrong horse", Some(&one)).await.unwrap());
        assert!(!verify("correct horse", None).await.unwrap());
    }

    fn gate(concurrency: usize, queue: usize, wait: Duration) -> HashGate {
        HashGate::new(&ApiLimits {
            hash_concurrency: concurrency,
            hash_queue: queue,
            hash_wait: wait,
            ..ApiLimits::default()
        })
    }

    fn encoded(gate: &HashGate) -> String {
        let mut registry = Registry::default();
        gate.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_never_runs_more_than_its_bound_and_refuses_past_its_queue() {
        let gate = gate(2, 3, Duration::from_secs(600));
        // Work that holds its slot until released, so the flood overlaps for sure.
        let (release, released) = tokio::sync::watch::channel(false);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let flood: Vec<_> = (0..20)
            .map(|_| {
                let gate = gate.clone();
                let (running, most, mut released) =
                    (Arc::clone(&running), Arc::clone(&most), released.clone());
                tokio::spawn(async move {
                    gate.run(move || {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = running.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        let handle = tokio::runtime::Handle::current();
                        handle.block_on(released.wait_for(|r| *r)).unwrap();
                        running.fetch_sub(1, SeqCst);
                    })
                    .await
                })
            })
            .collect();
        // 2 run and 3 wait; the other 15 are refused at once, while the 5 are held.
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let metrics = encoded(&gate);
                if metrics.contains("password_hashes_refused_total 15")
                    && metrics.contains("password_hashes_waiting 3")
                    && metrics.contains("password_hashes_in_flight 2")
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("2 running, 3 waiting, 15 refused");
        release.send_replace(true);
        let mut refused = 0;
        for task in flood {
            refused += usize::from(task.await.unwrap().is_err());
        }
        assert_eq!(refused, 15);
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
        let metrics = encoded(&gate);
        assert!(
            metrics.contains("password_hashes_in_flight_peak 2"),
            "{metrics}"
        );
        assert!(metrics.contains("password_hashes_in_flight 0"), "{metrics}");
        assert!(metrics.contains("password_hashes_waiting 0"), "{metrics}");
    }

    #[tokio::test]
    async fn a_wait_longer_than_allowed_is_refused_with_a_retry_hint() {
        let gate = gate(1, 5, Duration::from_millis(50));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(move || released.recv()).await })
        };
        while !encoded(&gate).contains("password_hashes_in_flight 1") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let busy = gate.run(|| ()).await.unwrap_err();
        assert_eq!(busy.retry_after, Duration::from_secs(1));
        release.send(()).unwrap();
        assert!(holder.await.unwrap().is_ok());
        assert!(gate.run(|| ()).await.is_ok());
    }

    #[test]
    fn the_generated_secret_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt-secret");
        let first = load_or_create_secret(&path).unwrap();
        let second = load_or_create_secret(&path).unwrap();
        assert_eq!(first.expose(), second.expose());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
