//! The instances of a group as the engine sees them: when each was launched, whether it is
//! busy (scale-in protected) and whether it has been chosen for termination.
//!
//! The state is derived from the clock rather than stored, so there is no "instance became
//! in service" event to forget: an instance is warming until `launched_at + warmup`.

use std::fmt;
use std::time::Duration;

/// An instance's identity, given by whoever launches it (the stack's child-process table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub u64);

impl fmt::Display for InstanceId {
    /// EC2-shaped (`i-` and 17 hex digits) so activity logs read like AWS's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "i-{:017x}", self.0)
    }
}

/// Lifecycle state at a given moment. `Warming` and `WarmedUp` are both AWS's `InService`:
/// an instance is in service once launched and up (the local stack tells the engine of a
/// launch only when the instance is up, so its boot, AWS's `Pending`, passes before the
/// engine hears of it); the warm-up only keeps its metrics out of the group's aggregates. See
/// <https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-default-instance-warmup.html>
/// and docs/local-stack.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceState {
    /// Launched for a time still to come: booting (a replay launches after a measured
    /// delay; the local stack reports a launch once the instance is up).
    Pending,
    /// In service and still warming up: serves and counts in `GroupInServiceInstances`, but
    /// its metrics are not aggregated yet.
    Warming,
    /// In service past its warm-up: its metrics count.
    WarmedUp,
    /// Chosen for termination; no longer counted, waiting for the process to exit.
    Terminating,
}

impl InstanceState {
    /// AWS's `InService`: warming or warmed up.
    pub fn is_in_service(self) -> bool {
        matches!(self, InstanceState::Warming | InstanceState::WarmedUp)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: InstanceId,
    pub launched_at: Duration,
    /// Working on a task: protected from scale-in while set.
    pub busy: bool,
    pub terminating: bool,
}

impl Instance {
    pub fn state_at(&self, now: Duration, warmup: Duration) -> InstanceState {
        if self.terminating {
            InstanceState::Terminating
        } else if now < self.launched_at {
            InstanceState::Pending
        } else if now < self.launched_at.saturating_add(warmup) {
            InstanceState::Warming
        } else {
            InstanceState::WarmedUp
        }
    }
}

/// Picks up to `count` instances to terminate: never a busy or already terminating one, the
/// newest first (AWS's `NewestInstance` termination policy).
///
/// Newest first because on one machine AWS's default policy (balance availability zones,
/// then oldest launch template) has nothing to balance, and the newest instances are the
/// ones still warming up or least settled, so removing them disturbs the least.
pub(super) fn choose_for_termination(instances: &[Instance], count: usize) -> Vec<InstanceId> {
    let mut candidates: Vec<&Instance> = instances
        .iter()
        .filter(|i| !i.busy && !i.terminating)
        .collect();
    candidates.sort_by(|a, b| b.launched_at.cmp(&a.launched_at).then(b.id.cmp(&a.id)));
    candidates.iter().take(count).map(|i| i.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: u64, launched_secs: u64, busy: bool) -> Instance {
        Instance {
            id: InstanceId(id),
            launched_at: Duration::from_secs(launched_secs),
            busy,
            terminating: false,
        }
    }

    #[test]
    fn an_instance_is_in_service_from_launch_and_warmed_up_after_its_warmup() {
        let i = instance(1, 10, false);
        let warmup = Duration::from_secs(5);
        assert_eq!(
            i.state_at(Duration::from_secs(14), warmup),
            InstanceState::Warming
        );
        assert_eq!(
            i.state_at(Duration::from_secs(15), warmup),
            InstanceState::WarmedUp
        );
        let leaving = Instance {
            terminating: true,
            ..i
        };
        assert_eq!(
            leaving.state_at(Duration::from_secs(99), warmup),
            InstanceState::Terminating
        );
    }

    #[test]
    fn termination_prefers_the_newest_idle_instances_and_skips_busy_ones() {
        let instances = [
            instance(1, 0, false),
            instance(2, 5, false),
            instance(3, 9, true),
            instance(4, 7, false),
        ];
        assert_eq!(
            choose_for_termination(&instances, 2),
            vec![InstanceId(4), InstanceId(2)]
        );
        assert_eq!(
            choose_for_termination(&instances, 9).len(),
            3,
            "the busy one is never offered"
        );
    }

    #[test]
    fn instance_ids_print_like_ec2_ids() {
        assert_eq!(InstanceId(255).to_string(), "i-000000000000000ff");
    }
}
