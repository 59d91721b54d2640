//! Passwords (argon2id) and access tokens (HS256 JWT that expire).
//!
//! Hashing is deliberately expensive, so it runs on the blocking pool and never stalls the
//! request threads. The signing secret comes only from `ANB_JWT_SECRET`; on embedded
//! backends, when it is unset, one is generated once and kept (mode 0600) in the data
//! directory so that several local API processes accept each other's tokens.

use std::path::Path;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{Secret, Settings};
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

/// Hashes a password with argon2id and a random salt (PHC string).
pub async fn hash_password(password: Password) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| AuthError::Hashing(e.to_string()))?;
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| AuthError::Hashing(e.to_string()))?
}

/// Checks a password against a stored hash. With no hash (unknown user) it still does the
/// work of one verification, so response time does not tell which e-mails exist.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                         7i2BqGY0uBzPrSbVHZzXv0f1f4n9lq1H0ZXm5Q2l1yQ";
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY.to_string());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && ok
    })
    .await
    .unwrap_or(false)
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
        let one = hash_password(Password::parse("correct horse").unwrap())
            .await
            .unwrap();
        let two = hash_password(Password::parse("correct horse").unwrap())
            .await
            .unwrap();
        assert_ne!(one, two, "salts must differ");
        assert!(one.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(one.clone())).await);
        assert!(!verify_password("wrong horse".into(), Some(one)).await);
        assert!(!verify_password("correct horse".into(), None).await);
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
