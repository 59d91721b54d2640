//! The stack at run time: once a second, for each group, it reaps instances that died,
//! replaces web instances that keep failing health checks (after the grace period), samples
//! CPU, the balancer and the queue into the policy engine, carries out its decision
//! (launching, or draining and terminating), and writes what CloudWatch and Auto Scaling
//! would have recorded: `metrics.csv` and `activities.jsonl` in the telemetry directory.
//! What one group does on its own each second is `group`'s.

mod group;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rundir::{Activity, MetricRow, MetricsWriter};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{mpsc, watch};

use crate::cgroup::CgroupSupport;
use crate::config::{App, StackConfig};
use crate::control::{self, ActivityLine, Command, GroupDecision, StackControl, StackStatus};
use crate::hosted::HostedApp;
use crate::instance::{Instance, LaunchTemplate, Role, instance_name};
use crate::lb::{LoadBalancer, TargetState};
use crate::policy::{Change, Decision, Group, InstanceId};
use crate::telemetry::{self, BalancerSecond, Names, QueueSecond, Snapshot};
use group::GroupRuntime;

/// What `up` needs besides the configuration.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub config: StackConfig,
    /// The target-stack binary the instances run.
    pub binary: PathBuf,
    /// Shared by every instance: database, storage, queue.
    pub data_dir: PathBuf,
    /// Where metrics.csv and activities.jsonl are written.
    pub telemetry_dir: PathBuf,
    /// The load balancer's address (port 0: any free port).
    pub bind: SocketAddr,
}

/// How many recent decisions and activities the status keeps.
const STATUS_HISTORY: usize = 10;

fn keep_last<T>(items: &mut Vec<T>, n: usize) {
    let excess = items.len().saturating_sub(n);
    items.drain(..excess);
}

/// A running stack. Dropping it without [`RunningStack::stop`] kills the instances.
#[derive(Debug)]
pub struct RunningStack {
    /// The load balancer's URL: the stack's single entry point.
    pub url: String,
    pub telemetry_dir: PathBuf,
    control: StackControl,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningStack {
    pub fn control(&self) -> StackControl {
        self.control.clone()
    }

    pub async fn set_desired(&self, group: &str, capacity: u32) -> anyhow::Result<u32> {
        self.control.set_desired(group, capacity).await
    }

    pub async fn kill_one(&self, group: &str) -> anyhow::Result<String> {
        self.control.kill_one(group).await
    }

    pub fn status(&self) -> StackStatus {
        self.control.status()
    }

    /// Stops the loop, drains the balancer and terminates every instance gracefully.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("the stack's supervisor panicked")?
    }
}

struct Supervisor {
    config: StackConfig,
    started: Instant,
    balancer: LoadBalancer,
    /// The application's queue and open tasks; None when it has no worker group
    /// (inference), which has neither.
    app: Option<Box<dyn HostedApp>>,
    cgroups: CgroupSupport,
    next_id: AtomicU64,
    groups: Vec<GroupRuntime>,
    metrics: MetricsWriter<BufWriter<File>>,
    activities: BufWriter<File>,
    names: Names,
    status: Arc<Mutex<StackStatus>>,
    /// The queue's delete counter at the previous tick, for NumberOfMessagesDeleted.
    last_deleted_total: Option<u64>,
}

/// Starts the stack: starts the balancer, launches each group's desired capacity, and returns once a web instance is healthy behind the balancer.
pub async fn up(
    options: StackOptions,
    app: Option<Box<dyn HostedApp>>,
) -> anyhow::Result<RunningStack> {
    // The caller prepares the shared backends (migrating once, before instances race to)
    // and sizes an empty worker group when workers cannot run.
    std::fs::create_dir_all(&options.data_dir)?;
    std::fs::create_dir_all(&options.telemetry_dir)?;
    let config = options.config.clone();
    let cgroups = CgroupSupport::detect();
    if let CgroupSupport::Unavailable { why } = &cgroups {
        tracing::warn!(
            "instances run without CPU quotas ({why}); scaling out adds processes, not CPU"
        );
        eprintln!(
            "warning: no CPU quotas for instances ({why}); scaling out adds processes, not CPU"
        );
    }
    let balancer = LoadBalancer::start(options.bind, config.balancer.clone()).await?;
    let template = |role| LaunchTemplate {
        binary: options.binary.clone(),
        role,
        data_dir: options.data_dir.clone(),
        env: vec![(
            "ANB_WORKER_CONCURRENCY".to_string(),
            config.instance.worker_concurrency.to_string(),
        )],
        cpus: Some(config.instance.cpus),
    };
    let web_role = match config.app {
        App::Anb => Role::Api,
        App::Inference => Role::Inference,
    };
    let mut groups = vec![GroupRuntime {
        role: web_role,
        policy: Group::new(config.web.clone())?,
        template: template(web_role),
        instances: BTreeMap::new(),
    }];
    if config.app.has_workers() {
        groups.push(GroupRuntime {
            role: Role::Worker,
            policy: Group::new(config.worker.clone())?,
            template: template(Role::Worker),
            instances: BTreeMap::new(),
        });
    }
    let metrics_path = options.telemetry_dir.join(rundir::METRICS_FILE);
    let activities_path = options.telemetry_dir.join(rundir::ACTIVITIES_FILE);
    // What the stack runs as (after the ffmpeg check above), for the runs' reports.
    let stack_path = options.telemetry_dir.join(rundir::STACK_FILE);
    let description = serde_json::to_vec_pretty(&config.describe())?;
    std::fs::write(&stack_path, description)
        .with_context(|| format!("cannot write {}", stack_path.display()))?;
    let mut supervisor = Supervisor {
        config,
        started: Instant::now(),
        balancer: balancer.clone(),
        app,
        cgroups,
        next_id: AtomicU64::new(1),
        groups,
        metrics: MetricsWriter::new(BufWriter::new(
            File::create(&metrics_path)
                .with_context(|| format!("cannot create {}", metrics_path.display()))?,
        ))?,
        activities: BufWriter::new(
            File::create(&activities_path)
                .with_context(|| format!("cannot create {}", activities_path.display()))?,
        ),
        names: Names::default(),
        status: Arc::new(Mutex::new(StackStatus::default())),
        last_deleted_total: None,
    };
    for index in 0..supervisor.groups.len() {
        supervisor
            .launch_needed(index, "the group was created")
            .await?;
    }
    // A minute to boot, then the health checks the balancer needs to pass (30 s apart on
    // the defaults, as on AWS).
    let balancer_config = &supervisor.config.balancer;
    let checks =
        balancer_config.interval * balancer_config.healthy_threshold + balancer_config.timeout;
    tracing::info!(
        "waiting for a web instance to pass {} health checks {:?} apart",
        balancer_config.healthy_threshold,
        balancer_config.interval
    );
    supervisor
        .wait_for_a_healthy_web_instance(Duration::from_secs(60) + checks)
        .await?;

    let (stop, mut stopped) = watch::channel(false);
    let (commands, mut requests) = mpsc::channel(16);
    let status = Arc::clone(&supervisor.status);
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if let Err(e) = supervisor.tick().await {
                        tracing::error!(error = format!("{e:#}"), "stack supervisor tick failed");
                    }
                }
                Some(command) = requests.recv() => supervisor.obey(command).await,
                _ = stopped.changed() => break,
            }
        }
        supervisor.shut_down().await
    });
    let stack = RunningStack {
        url: format!("http://{}", balancer.address()),
        telemetry_dir: options.telemetry_dir,
        control: StackControl::new(status, commands),
        stop,
        task,
    };
    control::serve(stack.control(), &options.data_dir, &stack.url).await?;
    Ok(stack)
}

impl Supervisor {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    async fn wait_for_a_healthy_web_instance(&self, limit: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        while !self
            .balancer
            .targets()
            .iter()
            .any(|t| t.state == TargetState::Healthy)
        {
            anyhow::ensure!(
                started.elapsed() < limit,
                "no web instance became healthy within {limit:?}; see the logs in the data directory"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Launches what the group lacks to reach its desired capacity.
    async fn launch_needed(&mut self, index: usize, cause: &str) -> anyhow::Result<()> {
        let needed = self.groups[index].policy.launches_needed();
        for _ in 0..needed {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let group = &mut self.groups[index];
            let instance = Instance::launch(&group.template, id, &self.cgroups).await?;
            if let Some(address) = instance.address {
                self.balancer.register(id, address);
            }
            let now = self.started.elapsed();
            group.policy.launched(InstanceId(id), now);
            group.instances.insert(id, instance);
            let name = group.policy.spec().name.clone();
            self.record_activity(
                &name,
                format!("Launching a new EC2 instance: {}", instance_name(id)),
                cause,
            )?;
        }
        Ok(())
    }

    fn record_activity(
        &mut self,
        group: &str,
        description: String,
        cause: &str,
    ) -> anyhow::Result<()> {
        let now = OffsetDateTime::now_utc();
        let activity = Activity {
            activity_id: uuid::Uuid::new_v4().to_string(),
            auto_scaling_group_name: group.to_string(),
            description,
            cause: cause.to_string(),
            start_time: now,
            end_time: Some(now),
            status_code: "Successful".into(),
            status_message: None,
            progress: 100,
            details: String::new(),
        };
        rundir::write_activity(&mut self.activities, &activity)?;
        self.activities.flush()?;
        let at_secs = self.now().as_secs();
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.activities.push(ActivityLine {
            at_secs,
            group: activity.auto_scaling_group_name,
            description: activity.description,
        });
        keep_last(&mut status.activities, STATUS_HISTORY);
        Ok(())
    }

    fn aws_cause(decision: &Decision, default: &str) -> String {
        let at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        match &decision.cause {
            Some(cause) => cause.render(&at),
            None => format!("At {at} {default}."),
        }
    }

    /// Stops an instance: out of the balancer first (draining), then SIGTERM.
    fn retire(&mut self, index: usize, id: u64) {
        let group = &mut self.groups[index];
        group.policy.terminated(InstanceId(id));
        if let Some(instance) = group.instances.remove(&id) {
            let balancer = self.balancer.clone();
            let is_web = group.role.is_web();
            tokio::spawn(async move {
                if is_web {
                    balancer.deregister(id).await;
                }
                instance.terminate(Duration::from_secs(30)).await;
            });
        }
    }

    async fn tick(&mut self) -> anyhow::Result<()> {
        let now = self.now();
        let window = self.balancer.take_window();
        let targets = self.balancer.targets();
        let (depth, open_runs) = match &self.app {
            Some(app) => (app.queue_depth().await, app.open_tasks().await),
            None => (None, None),
        };
        let mut seconds = Vec::new();
        let mut decisions = Vec::new();
        for index in 0..self.groups.len() {
            self.replace_failed(index, &targets)?;
            let now = self.now();
            let second = self.groups[index].sample(now, &window, depth, open_runs.as_ref());
            let decision = self.groups[index].policy.decide(now);
            let name = self.groups[index].policy.spec().name.clone();
            decisions.push(GroupDecision {
                group: name.clone(),
                desired: decision.desired,
                reason: decision.reason.clone(),
            });
            match &decision.change {
                Change::None => {}
                Change::Out { .. } => {
                    let cause = Self::aws_cause(&decision, "an alarm triggered a scale-out");
                    self.push_decision(&name, &decision);
                    self.launch_needed(index, &cause).await?;
                }
                Change::In { terminate, .. } => {
                    let cause = Self::aws_cause(&decision, "an alarm triggered a scale-in");
                    self.push_decision(&name, &decision);
                    for id in terminate.clone() {
                        self.record_activity(
                            &name,
                            format!("Terminating EC2 instance: {}", instance_name(id.0)),
                            &cause,
                        )?;
                        self.retire(index, id.0);
                    }
                }
            }
            // Replacements for instances that died.
            self.launch_needed(
                index,
                "an instance was started in response to a difference between desired and actual capacity",
            )
            .await?;
            seconds.push(second);
        }
        let balancer = BalancerSecond {
            requests: window.request_count,
            target_response_time: window.target_response_time_mean_secs(),
            target_response_time_p95: window.target_response_time_p95_secs,
            target_2xx: window.target_2xx_count,
            target_4xx: window.target_4xx_count,
            target_5xx: window.target_5xx_count,
            elb_502: window.elb_502_count,
            elb_503: window.elb_503_count,
            elb_504: window.elb_504_count,
            healthy_hosts: window.healthy_host_count,
            unhealthy_hosts: window.unhealthy_host_count,
            request_count_per_target: window.request_count_per_target(),
        };
        let deleted = depth.and_then(|d| d.deleted_total);
        let deleted_now = match (deleted, self.last_deleted_total) {
            (Some(total), Some(before)) => Some(total.saturating_sub(before)),
            _ => None,
        };
        if deleted.is_some() {
            self.last_deleted_total = deleted;
        }
        let queue = depth.map(|d| QueueSecond {
            visible: d.visible,
            not_visible: d.in_flight,
            oldest_age_seconds: d.oldest_age.map(|age| age.as_secs_f64()),
            deleted: deleted_now,
        });
        let at = OffsetDateTime::now_utc();
        let snapshot = Snapshot {
            at: at.replace_nanosecond(0).unwrap_or(at),
            balancer: Some(balancer.clone()),
            groups: seconds.clone(),
            queue: queue.clone(),
        };
        let rows: Vec<MetricRow> = telemetry::rows(&snapshot, &self.names);
        for row in &rows {
            self.metrics.write_row(row)?;
        }
        self.metrics.flush()?;
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.uptime_secs = now.as_secs();
        status.decisions = decisions;
        status.groups = seconds;
        status.balancer = balancer;
        status.queue = queue;
        Ok(())
    }

    fn group_index(&self, name: &str) -> anyhow::Result<usize> {
        self.groups
            .iter()
            .position(|g| g.policy.spec().name == name)
            .with_context(|| {
                let names: Vec<_> = self
                    .groups
                    .iter()
                    .map(|g| g.policy.spec().name.clone())
                    .collect();
                format!("no group {name:?}; the groups are {}", names.join(", "))
            })
    }

    async fn obey(&mut self, command: Command) {
        match command {
            Command::SetDesired {
                group,
                capacity,
                reply,
            } => {
                let result = self.set_desired(&group, capacity).await;
                let _ = reply.send(result);
            }
            Command::KillOne { group, reply } => {
                let result = self.group_index(&group).and_then(|index| {
                    let victim = self.groups[index].instances.iter_mut().find_map(|(id, i)| {
                        i.is_running().then(|| {
                            i.kill_now();
                            instance_name(*id)
                        })
                    });
                    victim.with_context(|| format!("group {group} has no running instance"))
                });
                let _ = reply.send(result);
            }
        }
    }

    async fn set_desired(&mut self, group: &str, capacity: u32) -> anyhow::Result<u32> {
        let index = self.group_index(group)?;
        let now = self.now();
        let decision = self.groups[index]
            .policy
            .set_desired(capacity, now, false)?;
        let cause = Self::aws_cause(
            &decision,
            "a user request explicitly set group desired capacity",
        );
        self.push_decision(group, &decision);
        if let Change::In { terminate, .. } = &decision.change {
            for id in terminate.clone() {
                self.record_activity(
                    group,
                    format!("Terminating EC2 instance: {}", instance_name(id.0)),
                    &cause,
                )?;
                self.retire(index, id.0);
            }
        }
        self.launch_needed(index, &cause).await?;
        Ok(decision.desired)
    }

    fn push_decision(&self, group: &str, decision: &Decision) {
        tracing::info!(group, desired = decision.desired, reason = %decision.reason, "scaling");
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status
            .last_decisions
            .push(format!("{group}: {}", decision.reason));
        keep_last(&mut status.last_decisions, STATUS_HISTORY);
    }

    /// Instances whose process died, and web instances failing health checks after the
    /// grace period, are terminated; the group then launches replacements.
    fn replace_failed(
        &mut self,
        index: usize,
        targets: &[crate::lb::TargetStatus],
    ) -> anyhow::Result<()> {
        let grace = self.config.health_check_grace;
        let group = &mut self.groups[index];
        let failed = group.take_failed(grace, targets);
        let name = group.policy.spec().name.clone();
        for (id, why) in failed {
            let at = OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default();
            self.record_activity(
                &name,
                format!("Terminating EC2 instance: {}", instance_name(id)),
                &format!("At {at} an instance was taken out of service in response to a health check failure: {why}."),
            )?;
            self.retire(index, id);
        }
        Ok(())
    }

    async fn shut_down(mut self) -> anyhow::Result<()> {
        self.balancer.shutdown().await;
        for group in &mut self.groups {
            let instances = std::mem::take(&mut group.instances);
            for (_, instance) in instances {
                instance.terminate(Duration::from_secs(30)).await;
            }
        }
        self.metrics.flush()?;
        self.activities.flush()?;
        Ok(())
    }
}
