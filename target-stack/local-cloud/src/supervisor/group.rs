//! One Auto Scaling group at run time: its policy, launch template and instances, and
//! what it does each second on its own: measure its instances into a policy sample and a
//! telemetry second, and find the instances to replace. The stack's loop (the parent
//! module) carries out what follows from them.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::hosted::QueueDepth;
use crate::instance::{Instance, LaunchTemplate, Role, instance_name};
use crate::lb::{LbWindow, TargetState, TargetStatus};
use crate::policy::{Group, InstanceId, InstanceState, Sample};
use crate::telemetry::GroupSecond;

pub(super) struct GroupRuntime {
    pub(super) role: Role,
    pub(super) policy: Group,
    pub(super) template: LaunchTemplate,
    pub(super) instances: BTreeMap<u64, Instance>,
}

impl GroupRuntime {
    /// One second of the group's metrics, fed to its policy and returned for telemetry.
    pub(super) fn sample(
        &mut self,
        now: Duration,
        window: &LbWindow,
        queue: Option<QueueDepth>,
        open_runs: Option<&BTreeMap<String, u64>>,
    ) -> GroupSecond {
        // In service as on AWS (warming included); the policies' metrics aggregate only the
        // warmed-up ones.
        let in_service = self.policy.in_service_at(now).len() as u32;
        let warmed_up = self.policy.warmed_up_at(now);
        let readings: Vec<(InstanceId, f64)> = self
            .instances
            .iter_mut()
            .filter_map(|(id, instance)| Some((InstanceId(*id), instance.cpu_percent()?)))
            .collect();
        // The policy leaves warming instances out (as Auto Scaling does); CloudWatch's group
        // CPUUtilization covers every running instance.
        let avg_cpu = self.policy.average_cpu(now, readings.iter().copied());
        let all_cpu: Vec<f64> = readings.iter().map(|(_, cpu)| *cpu).collect();
        let cpu_average =
            (!all_cpu.is_empty()).then(|| all_cpu.iter().sum::<f64>() / all_cpu.len() as f64);
        let mut sample = Sample::at(now);
        sample.avg_cpu = avg_cpu;
        let mut busy = None;
        match self.role {
            Role::Api | Role::Inference => {
                // ALB's RequestCountPerTarget, per second: over the healthy targets, warming
                // ones included (the balancer knows nothing of the warm-up).
                let seconds = window.duration.as_secs_f64().max(1e-3);
                sample.requests_per_target = window.request_count_per_target().map(|n| n / seconds);
                sample.request_targets = window.request_count_targets().map(|n| n as u32);
                sample.latency_p95_ms = window.target_response_time_p95_secs.map(|s| s * 1e3);
            }
            Role::Worker => {
                sample.queue_visible = queue.map(|q| q.visible);
                // A worker with an open task run is busy: protected from scale-in, as a
                // worker would protect itself with SetInstanceProtection.
                if let Some(open) = open_runs {
                    let ids: Vec<u64> = self.instances.keys().copied().collect();
                    let mut busy_warmed_up = 0;
                    for id in ids {
                        let is_busy = open.get(&instance_name(id)).is_some_and(|n| *n > 0);
                        self.policy.set_busy(InstanceId(id), is_busy);
                        busy_warmed_up += u32::from(is_busy && warmed_up.contains(&InstanceId(id)));
                    }
                    busy = Some(busy_warmed_up);
                }
                sample.busy_workers = busy;
            }
        }
        self.policy.observe(sample);
        let warming = self.policy.warming_at(now).len() as u32;
        let pending = self
            .policy
            .instances()
            .iter()
            .filter(|i| self.policy.state_of(i.id, now) == Some(InstanceState::Pending))
            .count() as u32;
        let live = self.instances.len() as u32;
        // The limits in force: a scheduled action may have changed the configured ones.
        let (min, max) = self.policy.limits();
        GroupSecond {
            name: self.policy.spec().name.clone(),
            min,
            max,
            desired: self.policy.desired(),
            in_service,
            pending,
            warming,
            terminating: live.saturating_sub(in_service + pending),
            cpu_average,
            cpu_maximum: all_cpu.iter().cloned().reduce(f64::max),
            busy,
        }
    }

    /// The instances to replace, with why: those whose process died, and web instances
    /// failing health checks after the grace period (killed here, at once).
    pub(super) fn take_failed(
        &mut self,
        grace: Duration,
        targets: &[TargetStatus],
    ) -> Vec<(u64, &'static str)> {
        let mut failed = Vec::new();
        for (id, instance) in self.instances.iter_mut() {
            if !instance.is_running() {
                failed.push((*id, "the instance's process exited"));
            } else if self.role.is_web()
                && instance.launched_at.elapsed() > grace
                && targets
                    .iter()
                    .any(|t| t.id == *id && t.state == TargetState::Unhealthy)
            {
                instance.kill_now();
                failed.push((*id, "the instance failed ELB health checks"));
            }
        }
        failed
    }
}
