//! The three backends a process talks to, built once from the settings.

use anyhow::Context;

use crate::config::Settings;
use crate::db::Database;
use crate::queue::TaskQueue;
use crate::storage::Storage;

#[derive(Clone, Debug)]
pub struct Backends {
    pub db: Database,
    pub storage: Storage,
    pub queue: TaskQueue,
}

impl Backends {
    /// Connects to the database (and applies migrations), the object store and the queue.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let db = Database::connect(&settings.database)
            .await
            .with_context(|| format!("cannot open the database {}", settings.database))?;
        db.migrate()
            .await
            .context("cannot apply the database migrations")?;
        let storage = Storage::open(&settings.storage, &settings.aws)
            .with_context(|| format!("cannot open object storage {:?}", settings.storage))?;
        let queue = TaskQueue::open(&settings.queue, &settings.aws)
            .await
            .with_context(|| format!("cannot open the task queue {:?}", settings.queue.location))?;
        Ok(Self { db, storage, queue })
    }
}
