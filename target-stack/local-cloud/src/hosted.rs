//! What the local stack reads from the application it hosts. In AWS the queue's attributes
//! come from SQS (CloudWatch's AWS/SQS metrics) and a busy worker keeps itself from being
//! scaled in; on one machine the stack asks the application, through this trait, once a
//! second. `target-stack up` implements it over the application's database and queue.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

pub use rundir::QueueDepth;

pub trait HostedApp: Send + Sync {
    /// The queue's attributes now; None when they cannot be read this second ("no data").
    fn queue_depth(&self) -> BoxFuture<'_, Option<QueueDepth>>;

    /// The tasks each worker instance has open, by instance name: the busy workers,
    /// protected from scale-in. None when it cannot be read this second.
    fn open_tasks(&self) -> BoxFuture<'_, Option<BTreeMap<String, u64>>>;
}
