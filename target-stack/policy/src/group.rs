//! One auto scaling group: its desired capacity, its instances, its metric window and the
//! times of its last scaling activities, and the rule that turns policy votes into one
//! decision.
//!
//! Combining votes follows EC2 Auto Scaling with several policies: scale out when any policy
//! wants more (to the largest capacity asked for); scale in only when every policy that can
//! scale in agrees (to the largest capacity among them, i.e. the smallest cut), and never
//! while any policy wants more, even one waiting out its cooldown. One guard goes beyond
//! AWS: a scale-in is skipped when, at the current load, the smaller group would trip any
//! policy's scale-out, since it would only flap back.

use std::time::Duration;

use super::decision::{Cause, Change, Decision, Source};
use super::instances::{Instance, InstanceId, InstanceState, choose_for_termination};
use super::metrics::{Sample, Window};
use super::rules::{self, Context, Trigger, Vote};
use super::spec::{GroupSpec, SpecError};

#[derive(Debug, Clone)]
pub struct Group {
    spec: GroupSpec,
    desired: u32,
    /// The size limits now: the spec's until a scheduled action changes them.
    min: u32,
    max: u32,
    /// Scheduled actions are applied once for each time they fall due after this.
    schedule_checked: Option<Duration>,
    instances: Vec<Instance>,
    window: Window,
    last_scale_out: Option<Duration>,
    last_activity: Option<Duration>,
}

/// Why an operator's `set_desired` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManualError {
    /// AWS answers `ScalingActivityInProgress` when `HonorCooldown` meets a cooldown.
    #[error("group {group} is in its cooldown for another {remaining:?}")]
    InCooldown { group: String, remaining: Duration },
}

impl Group {
    /// A group at its initial desired capacity (`spec.desired`, else `min`) with no instances
    /// yet: the stack launches `launches_needed()` of them.
    pub fn new(spec: GroupSpec) -> Result<Self, SpecError> {
        spec.validate()?;
        let lookback = spec
            .policies
            .iter()
            .map(|p| p.lookback())
            .max()
            .unwrap_or_default();
        Ok(Group {
            desired: spec.desired.unwrap_or(spec.min),
            min: spec.min,
            max: spec.max,
            schedule_checked: None,
            window: Window::new(lookback),
            instances: Vec::new(),
            last_scale_out: None,
            last_activity: None,
            spec,
        })
    }

    pub fn spec(&self) -> &GroupSpec {
        &self.spec
    }

    pub fn desired(&self) -> u32 {
        self.desired
    }

    /// The size limits in force (a scheduled action may have changed the spec's).
    pub fn limits(&self) -> (u32, u32) {
        (self.min, self.max)
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    pub fn state_of(&self, id: InstanceId, now: Duration) -> Option<InstanceState> {
        self.instance(id).map(|i| i.state_at(now, self.spec.warmup))
    }

    /// Instances in service (AWS's `InService`, what `GroupInServiceInstances` counts):
    /// launched and not terminating, warming ones included.
    pub fn in_service_at(&self, now: Duration) -> Vec<InstanceId> {
        self.instances
            .iter()
            .filter(|i| i.state_at(now, self.spec.warmup).is_in_service())
            .map(|i| i.id)
            .collect()
    }

    /// In-service instances past their warm-up: the ones whose metrics are aggregated.
    pub fn warmed_up_at(&self, now: Duration) -> Vec<InstanceId> {
        self.ids_in(InstanceState::WarmedUp, now)
    }

    /// In-service instances still warming up.
    pub fn warming_at(&self, now: Duration) -> Vec<InstanceId> {
        self.ids_in(InstanceState::Warming, now)
    }

    /// How many instances to launch to reach the desired capacity.
    pub fn launches_needed(&self) -> u32 {
        self.desired.saturating_sub(self.live_count())
    }

    /// Records a launched instance (warming from `now`). Returns false for a known id.
    pub fn launched(&mut self, id: InstanceId, now: Duration) -> bool {
        if self.instance(id).is_some() {
            return false;
        }
        self.instances.push(Instance {
            id,
            launched_at: now,
            busy: false,
            terminating: false,
        });
        true
    }

    /// Forgets an instance whose process has exited, whether the engine chose it or it died.
    pub fn terminated(&mut self, id: InstanceId) -> bool {
        let before = self.instances.len();
        self.instances.retain(|i| i.id != id);
        self.instances.len() != before
    }

    /// Marks a worker busy (protected from scale-in) or idle. Returns false for an unknown id.
    pub fn set_busy(&mut self, id: InstanceId, busy: bool) -> bool {
        match self.instances.iter_mut().find(|i| i.id == id) {
            Some(instance) => {
                instance.busy = busy;
                true
            }
            None => false,
        }
    }

    /// The group's CPUUtilization from per-instance readings: the mean over in-service
    /// instances only, as AWS leaves warming instances out of aggregated metrics. `None` when
    /// no reading comes from an in-service instance.
    pub fn average_cpu(
        &self,
        now: Duration,
        readings: impl IntoIterator<Item = (InstanceId, f64)>,
    ) -> Option<f64> {
        let (sum, n) = readings
            .into_iter()
            .filter(|(id, cpu)| {
                cpu.is_finite() && self.state_of(*id, now) == Some(InstanceState::WarmedUp)
            })
            .fold((0.0, 0_u32), |(sum, n), (_, cpu)| (sum + cpu, n + 1));
        (n > 0).then(|| sum / f64::from(n))
    }

    /// Adds a sample to the window, aggregated over the instances warmed up at `sample.at`.
    /// Returns false (and keeps nothing) for a sample older than the newest one.
    pub fn observe(&mut self, sample: Sample) -> bool {
        let warmed_up = self.count(InstanceState::WarmedUp, sample.at);
        let warming = self.count(InstanceState::Warming, sample.at);
        self.window.push(sample, warmed_up, warmed_up + warming)
    }

    /// Evaluates every policy at `now` and applies the outcome: the desired capacity changes,
    /// the activity time is recorded, and instances to stop are marked terminating.
    pub fn decide(&mut self, now: Duration) -> Decision {
        if let Some(decision) = self.apply_schedule(now) {
            return decision;
        }
        if self.spec.policies.is_empty() {
            return self.unchanged("no scaling policies".into());
        }
        let ctx = Context {
            group: &self.spec.name,
            now,
            window: &self.window,
            desired: self.desired,
            min: self.min,
            max: self.max,
            warmed_up: self.count(InstanceState::WarmedUp, now),
            warming: self.count(InstanceState::Warming, now),
            last_scale_out: self.last_scale_out,
            last_activity: self.last_activity,
        };
        let votes: Vec<(&str, Vote)> = self
            .spec
            .policies
            .iter()
            .map(|p| (p.name(), rules::evaluate(p, &ctx)))
            .collect();

        // Scale out: the largest capacity any policy may act on now (first policy on a tie).
        let out = votes
            .iter()
            .filter_map(|(policy, vote)| match vote {
                Vote::Out { to, trigger } => Some((*to, *policy, trigger)),
                _ => None,
            })
            .rev()
            .max_by_key(|(to, ..)| *to);
        if let Some((to, policy, trigger)) = out {
            let (policy, trigger) = (policy.to_owned(), trigger.clone());
            return self.scale_out(to, now, policy, trigger);
        }

        // Scale in: only if no policy holds or wants more and at least one wants less.
        let all_agree = votes.iter().all(|(_, vote)| {
            matches!(
                vote,
                Vote::In { .. } | Vote::Abstain { .. } | Vote::Floor { .. }
            )
        });
        let smallest_cut = votes
            .iter()
            .filter_map(|(policy, vote)| match vote {
                Vote::In { to, trigger } => Some((*to, *policy, trigger)),
                _ => None,
            })
            .rev()
            .max_by_key(|(to, ..)| *to);
        // A forecast's floor holds the cut up (it never starts one).
        let floor = votes
            .iter()
            .filter_map(|(_, vote)| match vote {
                Vote::Floor { at, .. } => Some(*at),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let smallest_cut = smallest_cut
            .map(|(to, policy, trigger)| (to.max(floor), policy, trigger))
            .filter(|(to, ..)| *to < self.desired);
        if all_agree && let Some((to, policy, trigger)) = smallest_cut {
            // A scale-in that would trip any policy's scale-out at today's load would flap.
            let flap = self
                .spec
                .policies
                .iter()
                .find_map(|p| rules::would_scale_out_at(p, &ctx, to));
            if let Some(flap) = flap {
                return self.unchanged(format!("{}; but {flap}", trigger.reason));
            }
            let (policy, trigger) = (policy.to_owned(), trigger.clone());
            return self.scale_in(
                to,
                now,
                Source::Alarm {
                    alarm: trigger.alarm,
                    policy,
                    breaches: trigger.breaches,
                },
                trigger.reason,
            );
        }

        let reasons: Vec<String> = votes.iter().map(|(_, vote)| vote_reason(vote)).collect();
        self.unchanged(reasons.join("; "))
    }

    /// An operator's SetDesiredCapacity: clamped to min..=max, and like any activity it starts
    /// the cooldowns. With `honour_cooldown`, refused while the group's default cooldown since
    /// the last activity has not passed.
    pub fn set_desired(
        &mut self,
        n: u32,
        now: Duration,
        honour_cooldown: bool,
    ) -> Result<Decision, ManualError> {
        if honour_cooldown && let Some(since) = self.last_activity {
            let elapsed = now.saturating_sub(since);
            if elapsed < self.spec.default_cooldown {
                return Err(ManualError::InCooldown {
                    group: self.spec.name.clone(),
                    remaining: self.spec.default_cooldown - elapsed,
                });
            }
        }
        let to = n.clamp(self.min, self.max);
        let clamped = if to == n {
            String::new()
        } else {
            format!(" (asked {n}, limits {}..={})", self.min, self.max)
        };
        let reason = format!("operator set desired to {to}{clamped}");
        Ok(if to > self.desired {
            self.apply_out(to, now, Source::UserRequest, reason)
        } else if to < self.desired {
            self.scale_in(to, now, Source::UserRequest, reason)
        } else {
            self.unchanged(format!("{reason}: already there"))
        })
    }

    /// Applies the scheduled actions that fell due since the last call (the latest time of
    /// each, in time order): new limits, desired moved into them or to the action's own.
    /// A change of desired is the decision of this second; otherwise the policies decide.
    fn apply_schedule(&mut self, now: Duration) -> Option<Decision> {
        let since = self.schedule_checked.replace(now);
        let mut due: Vec<(Duration, usize)> = self
            .spec
            .scheduled
            .iter()
            .enumerate()
            .filter_map(|(i, action)| {
                let at = action.last_due(now)?;
                since.is_none_or(|since| at > since).then_some((at, i))
            })
            .collect();
        due.sort();
        let mut last = None;
        for (_, i) in due {
            let action = &self.spec.scheduled[i];
            let min = action.min.unwrap_or(self.min);
            let max = action.max.unwrap_or(self.max);
            // A limit the action leaves alone gives way to the one it sets.
            let (min, max) = match (action.min, action.max) {
                (Some(_), None) => (min, max.max(min)),
                (None, Some(_)) => (min.min(max), max),
                _ => (min, max),
            };
            self.min = min;
            self.max = max;
            let wanted = action.desired.unwrap_or(self.desired).clamp(min, max);
            last = Some((action.name.clone(), wanted));
        }
        let (action, to) = last?;
        let source = Source::Scheduled {
            action: action.clone(),
            min: self.min,
            max: self.max,
        };
        let reason = format!(
            "scheduled action {action}: limits {}..={}",
            self.min, self.max
        );
        Some(if to > self.desired {
            self.apply_out(to, now, source, reason)
        } else if to < self.desired {
            self.scale_in(to, now, source, reason)
        } else {
            self.unchanged(format!("{reason}, desired {to} already"))
        })
    }

    fn scale_out(&mut self, to: u32, now: Duration, policy: String, trigger: Trigger) -> Decision {
        let source = Source::Alarm {
            alarm: trigger.alarm,
            policy,
            breaches: trigger.breaches,
        };
        self.apply_out(to, now, source, trigger.reason)
    }

    fn apply_out(&mut self, to: u32, now: Duration, source: Source, reason: String) -> Decision {
        let from = self.desired;
        self.desired = to;
        self.last_scale_out = Some(now);
        self.last_activity = Some(now);
        Decision {
            desired: to,
            change: Change::Out { by: to - from },
            cause: Some(Cause { source, from, to }),
            reason: format!("{reason}: desired {from} -> {to}"),
        }
    }

    /// Shrinks toward `to`, but never below the busy instances: they cannot be terminated,
    /// so desired stays at a count that can really run. (AWS instead lowers desired and leaves
    /// protected instances running above it; here desired always matches what runs.)
    fn scale_in(&mut self, to: u32, now: Duration, source: Source, reason: String) -> Decision {
        let from = self.desired;
        let busy = self.live().filter(|i| i.busy).count();
        let floor = u32::try_from(busy).unwrap_or(u32::MAX).min(self.max);
        let to = to.max(floor);
        if to >= from {
            return self.unchanged(format!(
                "{reason}, but {busy} busy instance(s) are protected from scale-in"
            ));
        }
        let excess = self.live_count().saturating_sub(to) as usize;
        let terminate = choose_for_termination(&self.instances, excess);
        for instance in &mut self.instances {
            if terminate.contains(&instance.id) {
                instance.terminating = true;
            }
        }
        self.desired = to;
        self.last_activity = Some(now);
        let stopping = if terminate.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = terminate.iter().map(ToString::to_string).collect();
            format!(", terminating {}", ids.join(" "))
        };
        Decision {
            desired: to,
            change: Change::In {
                by: from - to,
                terminate,
            },
            cause: Some(Cause { source, from, to }),
            reason: format!("{reason}: desired {from} -> {to}{stopping}"),
        }
    }

    fn unchanged(&self, reason: String) -> Decision {
        Decision {
            desired: self.desired,
            change: Change::None,
            cause: None,
            reason,
        }
    }

    fn instance(&self, id: InstanceId) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }

    fn live(&self) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(|i| !i.terminating)
    }

    fn live_count(&self) -> u32 {
        u32::try_from(self.live().count()).unwrap_or(u32::MAX)
    }

    fn ids_in(&self, state: InstanceState, now: Duration) -> Vec<InstanceId> {
        self.instances
            .iter()
            .filter(|i| i.state_at(now, self.spec.warmup) == state)
            .map(|i| i.id)
            .collect()
    }

    fn count(&self, state: InstanceState, now: Duration) -> u32 {
        let n = self
            .instances
            .iter()
            .filter(|i| i.state_at(now, self.spec.warmup) == state)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

fn vote_reason(vote: &Vote) -> String {
    match vote {
        Vote::Out { trigger, .. } | Vote::In { trigger, .. } => trigger.reason.clone(),
        Vote::OutCooling { reason }
        | Vote::Hold { reason }
        | Vote::Abstain { reason }
        | Vote::Floor { reason, .. } => reason.clone(),
    }
}
