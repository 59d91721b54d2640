//! The run's stop switch. Whoever ends a run early (a failed threshold with
//! `--abort-on-fail`, a target that stopped answering, the engine's watchdog) pulls Goose's
//! kill switch through it and leaves the reason, which the engine reads back for the
//! summary. One handle per run, passed down, instead of a process-wide slot.

use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct StopSwitch {
    reason: Arc<Mutex<Option<String>>>,
}

impl StopSwitch {
    /// Stops the running load test and records why.
    pub fn pull(&self, reason: String) {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.clone());
        goose::trigger_killswitch(&reason);
    }

    /// Why it was pulled; None when it was not (Goose stopped on Ctrl-C by itself).
    pub fn take_reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
