//! Videos, votes and rankings, and the status transitions the worker makes.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Database, DbError};
use crate::clock::now_ms;
use crate::domain::{Label, Page, VideoStatus};

pub struct NewVideo<'a> {
    pub owner_id: i64,
    pub title: &'a Label,
    pub task_id: &'a str,
    pub original_key: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoRecord {
    pub id: i64,
    pub owner_id: i64,
    pub title: String,
    pub status: VideoStatus,
    pub task_id: String,
    pub original_key: String,
    pub processed_key: Option<String>,
    pub uploaded_at: i64,
    pub started_at: Option<i64>,
    pub processed_at: Option<i64>,
    /// How many times a worker started processing it.
    pub attempts: i64,
    pub votes: i64,
    pub owner_name: String,
    pub owner_city: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RankingRow {
    pub user_id: i64,
    pub username: String,
    pub city: String,
    pub votes: i64,
}

const VIDEO_COLUMNS: &str = "v.id, v.owner_id, v.title, v.status, v.task_id, v.original_key,
    v.processed_key, v.uploaded_at, v.started_at, v.processed_at, v.attempts,
    (SELECT COUNT(*) FROM votes WHERE votes.video_id = v.id) AS votes,
    u.first_name || ' ' || u.last_name AS owner_name, u.city AS owner_city
    FROM videos v JOIN users u ON u.id = v.owner_id";

impl Database {
    pub async fn insert_video(&self, video: &NewVideo<'_>) -> Result<i64, DbError> {
        let row = sqlx::query(
            "INSERT INTO videos (owner_id, title, status, task_id, original_key, uploaded_at)
             VALUES ($1, $2, 'uploaded', $3, $4, $5) RETURNING id",
        )
        .bind(video.owner_id)
        .bind(video.title.as_str())
        .bind(video.task_id)
        .bind(video.original_key)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(DbError::from_write)?;
        Ok(row.try_get("id")?)
    }

    pub async fn video(&self, id: i64) -> Result<Option<VideoRecord>, DbError> {
        let sql = format!("SELECT {VIDEO_COLUMNS} WHERE v.id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| video_from_row(&r)).transpose()
    }

    pub async fn videos_of(&self, owner_id: i64) -> Result<Vec<VideoRecord>, DbError> {
        let sql = format!("SELECT {VIDEO_COLUMNS} WHERE v.owner_id = $1 ORDER BY v.id DESC");
        let rows = sqlx::query(&sql)
            .bind(owner_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(video_from_row).collect()
    }

    pub async fn public_videos(&self, page: Page) -> Result<Vec<VideoRecord>, DbError> {
        let sql = format!(
            "SELECT {VIDEO_COLUMNS} WHERE v.status = 'processed' ORDER BY v.id DESC LIMIT $1 OFFSET $2"
        );
        let rows = sqlx::query(&sql)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(video_from_row).collect()
    }

    /// Deletes a video that is not public yet; false when it is public (or gone).
    pub async fn delete_unpublished_video(&self, id: i64) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM videos WHERE id = $1 AND status <> 'processed'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a vote; [`DbError::Conflict`] when this user already voted for this video.
    pub async fn insert_vote(&self, video_id: i64, user_id: i64) -> Result<(), DbError> {
        sqlx::query("INSERT INTO votes (video_id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(video_id)
            .bind(user_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(DbError::from_write)?;
        Ok(())
    }

    /// Users ranked by the votes their videos received, optionally within one city
    /// (case-insensitive, Unicode-aware). Users without votes are not ranked.
    ///
    /// It reads `users.votes_received`, which triggers keep equal to the user's votes in
    /// every write's transaction (migration 0003), through an index in ranking order: the
    /// cost is the page, not the number of votes.
    pub async fn rankings(
        &self,
        city: Option<&Label>,
        page: Page,
    ) -> Result<Vec<RankingRow>, DbError> {
        // Two texts rather than `$3 IS NULL OR ...`: PostgreSQL cannot infer the type of a
        // parameter that is only compared with NULL.
        let filter = if city.is_some() {
            "AND u.city_key = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT u.id, u.first_name || ' ' || u.last_name AS username, u.city,
                    u.votes_received AS votes
             FROM users u
             WHERE u.votes_received > 0 {filter}
             ORDER BY u.votes_received DESC, u.id ASC
             LIMIT $1 OFFSET $2"
        );
        let mut query = sqlx::query(&sql).bind(page.limit()).bind(page.offset());
        if let Some(city) = city {
            query = query.bind(super::city_key(city));
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(RankingRow {
                    user_id: r.try_get("id")?,
                    username: r.try_get("username")?,
                    city: r.try_get("city")?,
                    votes: r.try_get("votes")?,
                })
            })
            .collect()
    }

    /// Marks a video as being processed and counts the attempt. None when the video is gone
    /// (deleted while queued) or already processed: the worker then has nothing to do.
    pub async fn start_processing(&self, id: i64) -> Result<Option<VideoRecord>, DbError> {
        let done = sqlx::query(
            "UPDATE videos SET status = 'processing', started_at = $2, attempts = attempts + 1
             WHERE id = $1 AND status <> 'processed'",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.video(id).await
    }

    /// Records the result. Returns false when another delivery of the same task got there
    /// first, so a duplicate delivery never produces a second result.
    pub async fn finish_processing(&self, id: i64, processed_key: &str) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE videos SET status = 'processed', processed_key = $2, processed_at = $3
             WHERE id = $1 AND status <> 'processed'",
        )
        .bind(id)
        .bind(processed_key)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a video failed unless it was processed (or is gone); true when it changed.
    pub async fn mark_failed(&self, id: i64) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE videos SET status = 'failed' WHERE id = $1 AND status NOT IN ('processed', 'failed')",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn video_from_row(row: &AnyRow) -> Result<VideoRecord, DbError> {
    let status: String = row.try_get("status")?;
    Ok(VideoRecord {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        title: row.try_get("title")?,
        status: VideoStatus::parse(&status).map_err(|e| DbError::Corrupt(e.0))?,
        task_id: row.try_get("task_id")?,
        original_key: row.try_get("original_key")?,
        processed_key: row.try_get("processed_key")?,
        uploaded_at: row.try_get("uploaded_at")?,
        started_at: row.try_get("started_at")?,
        processed_at: row.try_get("processed_at")?,
        attempts: row.try_get("attempts")?,
        votes: row.try_get("votes")?,
        owner_name: row.try_get("owner_name")?,
        owner_city: row.try_get("owner_city")?,
    })
}
