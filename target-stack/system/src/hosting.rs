//! The application on the local stack (`target-stack up`): the stack runs this binary's
//! roles as instances and, once a second, reads the application's queue and the tasks its
//! workers have open, as AWS reads SQS and a busy worker's scale-in protection. This
//! module prepares the shared backends for it and answers those readings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use futures::FutureExt;
use futures::future::BoxFuture;
use local_cloud::config::StackConfig;
use local_cloud::supervisor::{RunningStack, StackOptions};
use local_cloud::{HostedApp, QueueDepth};

use crate::Backends;
use crate::config::Settings;

/// Where the stack runs, beside what `Settings` already say: the instances share the
/// backends' data directory, so it is not given twice.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The target-stack binary the instances run.
    pub binary: PathBuf,
    /// Where metrics.csv and activities.jsonl are written.
    pub telemetry_dir: PathBuf,
    /// The load balancer's address (port 0: any free port).
    pub bind: SocketAddr,
}

/// Starts the local stack over the backends `settings` name, in their data directory:
/// connecting migrates the shared database once, before instances race to; without ffmpeg
/// the worker group is empty (workers exit at start, and a group of them would relaunch
/// forever).
pub async fn up(
    config: StackConfig,
    placement: Placement,
    settings: &Settings,
) -> anyhow::Result<RunningStack> {
    let mut options = StackOptions {
        config,
        binary: placement.binary,
        data_dir: settings.data_dir.clone(),
        telemetry_dir: placement.telemetry_dir,
        bind: placement.bind,
    };
    let config = &mut options.config;
    // The inference service has no backends: nothing to connect.
    let app: Option<Box<dyn HostedApp>> = if config.app.has_workers() {
        std::fs::create_dir_all(&options.data_dir)?;
        if let Err(e) = crate::worker::Pipeline::new(&settings.worker).await {
            eprintln!("warning: the worker group is empty: {e}");
            config.worker.min = 0;
            config.worker.max = 0;
            config.worker.desired = Some(0);
        }
        Some(Box::new(Hosted {
            backends: Backends::connect(settings)
                .await
                .context("cannot connect the stack's backends")?,
        }))
    } else {
        None
    };
    local_cloud::supervisor::up(options, app).await
}

struct Hosted {
    backends: Backends,
}

impl HostedApp for Hosted {
    fn queue_depth(&self) -> BoxFuture<'_, Option<QueueDepth>> {
        async move {
            match self.backends.queue.depth().await {
                Ok(depth) => Some(depth),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the queue's depth");
                    None
                }
            }
        }
        .boxed()
    }

    fn open_tasks(&self) -> BoxFuture<'_, Option<BTreeMap<String, u64>>> {
        async move {
            match self.backends.db.open_task_runs().await {
                Ok(open) => Some(open),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the workers' open task runs");
                    None
                }
            }
        }
        .boxed()
    }
}
