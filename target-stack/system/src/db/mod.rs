//! The relational store, on SQLite (embedded) or PostgreSQL (RDS), through one `sqlx::Any`
//! pool and one set of queries.
//!
//! Queries use `$n` placeholders, which both SQLite and PostgreSQL accept, and only types
//! the `Any` driver carries on both (BIGINT, TEXT): times are epoch milliseconds. Each
//! backend has its own migration directory because DDL differs (AUTOINCREMENT vs BIGSERIAL).

mod task_runs;
mod users;
mod videos;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::config::DatabaseUrl;

pub use task_runs::{RunOutcome, TaskRunRecord, TaskRunStart};
pub use users::{NewUser, UserRecord};
pub use videos::{NewVideo, RankingRow, VideoRecord};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How a city is compared: lower-cased by Rust, identically on both backends.
fn city_key(city: &crate::domain::Label) -> String {
    city.as_str().to_lowercase()
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness rule refused the write (duplicate e-mail, second vote).
    #[error("the row already exists")]
    Conflict,
    /// A foreign key names a row that is gone: on the API's writes (a video, a vote), the
    /// user a still-valid token names was deleted.
    #[error("the row refers to a row that does not exist")]
    MissingReference,
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Connecting failed. The driver's message is kept as text, scrubbed of the URL and its
    /// password: some of sqlx's errors echo the connection string.
    #[error("{0}")]
    Connect(String),
}

impl DbError {
    fn from_write(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(e) if e.is_unique_violation() => Self::Conflict,
            sqlx::Error::Database(e) if e.is_foreign_key_violation() => Self::MissingReference,
            _ => Self::Sqlx(error),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    pub async fn connect(location: &DatabaseUrl) -> Result<Self, DbError> {
        install_default_drivers();
        let (backend, url, max_connections) = match location {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
                }
                (
                    Backend::Sqlite,
                    format!("sqlite://{}?mode=rwc", path.display()),
                    8,
                )
            }
            DatabaseUrl::Postgres(url) => (Backend::Postgres, url.expose().to_string(), 16),
        };
        let scrub = |e: sqlx::Error| match location {
            DatabaseUrl::Postgres(secret) => DbError::Connect(secret.scrub(&e.to_string())),
            DatabaseUrl::Sqlite(_) => DbError::Sqlx(e),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets API and worker processes read while one of them writes.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(scrub)?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations. Several processes may start at once on one SQLite file;
    /// the loser of that race sees "table exists", and a retry then finds the migration
    /// recorded and skips it.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let mut attempt = 0;
        loop {
            match migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 4 && self.backend == Backend::Sqlite => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "migration raced another process; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One round trip, for health checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
