//! The durable local queue: one SQLite file (WAL) that any number of API and worker
//! processes on the machine share, with SQS's semantics.
//!
//! A message is a row. Receiving is one `UPDATE … RETURNING` that pushes `visible_at`
//! forward by the visibility timeout, bumps the receive count and issues a fresh receipt;
//! SQLite runs one writer at a time, so two processes never receive the same message in the
//! same window. A message that was already received `max_receives` times is moved to the
//! dead-letter queue when it next becomes visible, as SQS's redrive policy does.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{Delivery, QueueDepth, QueueError};
use crate::clock::now_ms;

const MAIN: &str = "main";
const DEAD_LETTER: &str = "dead-letter";
/// `visible_at` of a dead letter whose consequences the worker has recorded: it stays in
/// the dead-letter queue for inspection and is never handed out again.
const SETTLED: i64 = i64::MAX;
/// How often an empty long poll looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct LocalQueue {
    pool: SqlitePool,
    visibility_timeout: Duration,
    max_receives: u32,
}

impl LocalQueue {
    pub async fn open(
        path: &Path,
        visibility_timeout: Duration,
        max_receives: u32,
    ) -> Result<Self, sqlx::Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS messages (
                seq           INTEGER PRIMARY KEY AUTOINCREMENT,
                id            TEXT    NOT NULL UNIQUE,
                queue         TEXT    NOT NULL,
                body          TEXT    NOT NULL,
                sent_at       INTEGER NOT NULL,
                visible_at    INTEGER NOT NULL,
                receive_count INTEGER NOT NULL DEFAULT 0,
                receipt       TEXT
            )",
        )
        .execute(&pool)
        .await?;
        sqlx::query(
            "CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at, seq)",
        )
        .execute(&pool)
        .await?;
        sqlx::query("CREATE INDEX IF NOT EXISTS messages_receipt ON messages (receipt)")
            .execute(&pool)
            .await?;
        // NumberOfMessagesDeleted: a trigger counts in the deleting transaction itself, so
        // every process's deletes are counted exactly once.
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        )
        .execute(&pool)
        .await?;
        sqlx::query("INSERT OR IGNORE INTO counters (name, value) VALUES ('deleted', 0)")
            .execute(&pool)
            .await?;
        sqlx::query(
            "CREATE TRIGGER IF NOT EXISTS count_deleted AFTER DELETE ON messages
             WHEN old.queue = 'main'
             BEGIN UPDATE counters SET value = value + 1 WHERE name = 'deleted'; END",
        )
        .execute(&pool)
        .await?;
        Ok(Self {
            pool,
            visibility_timeout,
            max_receives,
        })
    }

    pub fn visibility_timeout(&self) -> Duration {
        self.visibility_timeout
    }

    pub async fn send(&self, body: &str) -> Result<String, QueueError> {
        let ids = self.send_batch(&[body.to_string()]).await?;
        Ok(ids.into_iter().next().expect("one id per message"))
    }

    /// Sends every body in one transaction: all or none.
    pub async fn send_batch(&self, bodies: &[String]) -> Result<Vec<String>, QueueError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(bodies.len());
        for body in bodies {
            let id = uuid::Uuid::new_v4().to_string();
            sqlx::query(
                "INSERT INTO messages (id, queue, body, sent_at, visible_at) VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(&id)
            .bind(MAIN)
            .bind(body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let batch = self.receive_now(max).await?;
            if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(batch);
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - tokio::time::Instant::now())).await;
        }
    }

    async fn receive_now(&self, max: usize) -> Result<Vec<Delivery>, QueueError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE messages SET queue = $1, receipt = NULL
             WHERE queue = $2 AND visible_at <= $3 AND receive_count >= $4",
        )
        .bind(DEAD_LETTER)
        .bind(MAIN)
        .bind(now)
        .bind(i64::from(self.max_receives))
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(
            "UPDATE messages
             SET visible_at = $1, receive_count = receive_count + 1,
                 receipt = lower(hex(randomblob(16)))
             WHERE seq IN (SELECT seq FROM messages WHERE queue = $2 AND visible_at <= $3
                           ORDER BY seq LIMIT $4)
             RETURNING id, body, receive_count, receipt, seq",
        )
        .bind(now + self.visibility_timeout.as_millis() as i64)
        .bind(MAIN)
        .bind(now)
        .bind(max.clamp(1, 10) as i64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut batch = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<i64, _>("seq")?,
                    Delivery {
                        message_id: row.try_get("id")?,
                        receipt: row.try_get("receipt")?,
                        body: row.try_get("body")?,
                        receive_count: row.try_get::<i64, _>("receive_count")? as u32,
                    },
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        batch.sort_by_key(|(seq, _)| *seq);
        Ok(batch.into_iter().map(|(_, d)| d).collect())
    }

    pub async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        sqlx::query("DELETE FROM messages WHERE receipt = $1 AND queue = $2")
            .bind(receipt)
            .bind(MAIN)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn change_visibility(
        &self,
        receipt: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        sqlx::query("UPDATE messages SET visible_at = $1 WHERE receipt = $2 AND queue = $3")
            .bind(now_ms() + timeout.as_millis() as i64)
            .bind(receipt)
            .bind(MAIN)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT
                COALESCE(SUM(queue = $1 AND visible_at <= $3), 0) AS visible,
                COALESCE(SUM(queue = $1 AND visible_at > $3), 0) AS in_flight,
                COALESCE(SUM(queue = $2), 0) AS dead,
                MIN(CASE WHEN queue = $1 THEN sent_at END) AS oldest,
                (SELECT value FROM counters WHERE name = 'deleted') AS deleted
             FROM messages",
        )
        .bind(MAIN)
        .bind(DEAD_LETTER)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        Ok(QueueDepth {
            visible: row.try_get::<i64, _>("visible")? as u64,
            in_flight: row.try_get::<i64, _>("in_flight")? as u64,
            dead_letter: Some(row.try_get::<i64, _>("dead")? as u64),
            oldest_age: oldest
                .map(|sent| Duration::from_millis(now.saturating_sub(sent).max(0) as u64)),
            deleted_total: row.try_get::<Option<i64>, _>("deleted")?.map(|n| n as u64),
        })
    }

    /// Hands out up to `max` dead letters not settled yet, each hidden for `lease` (as a
    /// receive does on the main queue); a dead letter whose consumer dies comes back after
    /// it. Messages move to the dead-letter queue with their last `visible_at`, in the past,
    /// so each is ready at once.
    pub async fn receive_dead_letters(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let now = now_ms();
        let rows = sqlx::query(
            "UPDATE messages
             SET visible_at = $1, receipt = lower(hex(randomblob(16)))
             WHERE seq IN (SELECT seq FROM messages WHERE queue = $2 AND visible_at <= $3
                           ORDER BY seq LIMIT $4)
             RETURNING id, body, receive_count, receipt",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(DEAD_LETTER)
        .bind(now)
        .bind(max.clamp(1, 10) as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                Ok(Delivery {
                    message_id: row.try_get("id")?,
                    receipt: row.try_get("receipt")?,
                    body: row.try_get("body")?,
                    receive_count: row.try_get::<i64, _>("receive_count")? as u32,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Marks a dead letter handed out by [`Self::receive_dead_letters`] as dealt with: it
    /// stays in the dead-letter queue (depth, [`Self::dead_letters`]) but is not handed out
    /// again.
    pub async fn settle_dead_letter(&self, receipt: &str) -> Result<(), QueueError> {
        sqlx::query(
            "UPDATE messages SET visible_at = $1, receipt = NULL WHERE receipt = $2 AND queue = $3",
        )
        .bind(SETTLED)
        .bind(receipt)
        .bind(DEAD_LETTER)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn dead_letters(&self) -> Result<Vec<String>, QueueError> {
        let rows = sqlx::query("SELECT body FROM messages WHERE queue = $1 ORDER BY seq")
            .bind(DEAD_LETTER)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("body"))
            .collect::<Result<_, _>>()?)
    }
}
