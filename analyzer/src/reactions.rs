//! How autoscaling reacted: for every scale-out, the chain breach → alarm → activity →
//! instance in service → latency back within the SLO, in seconds.
//!
//! - **breach**: the first second of the run of seconds, ending at or after the alarm, in
//!   which some endpoint's p95 broke the SLO (none when the group scaled before the SLO
//!   broke, which is what a good policy does);
//! - **alarm**: the time in the activity's Cause ("At 2026-…Z a monitor alarm …"), AWS's own
//!   record of when the policy fired;
//! - **activity**: the activity's StartTime;
//! - **in service**: the first sample at or after the activity in which the group's
//!   GroupInServiceInstances reached the capacity the activity set (from the Cause's "from
//!   N to M");
//! - **recovered**: after a breach, the first of [`RECOVERY_SECONDS`] consecutive seconds
//!   back within the SLO, at or after the instance came into service.
//!
//! And for every scale-in: alarm → activity → instances out of service, how long the group
//! kept the capacity its previous scale-out added, and whether it scaled out again within
//! [`FLAP_WINDOW_S`] (a flap).

use capacity_model::analysis::{FLAP_WINDOW_S, ScaleIn, ScaleOut};
use rundir::Activity;
use time::OffsetDateTime;

use crate::stages::at;
use crate::timeline::{Kpi, Timeline, Window};

/// Seconds within the SLO in a row that count as recovered.
pub const RECOVERY_SECONDS: usize = 3;
/// How far before the alarm a breach may have started and still be this scale-out's.
pub const BREACH_LOOKBACK_SECONDS: i64 = 600;

/// The capacities of an activity that launched an instance because the desired capacity
/// rose (a policy or an operator). The launches that create a group or replace an unhealthy
/// instance are not scale-outs. AWS's wording, which the local stack uses.
pub fn scale_out_capacities(activity: &Activity) -> Option<(u32, u32)> {
    if !activity
        .description
        .starts_with("Launching a new EC2 instance")
    {
        return None;
    }
    capacities(&activity.cause).filter(|(from, to)| to > from)
}

/// The capacities of an activity that terminated an instance because the desired capacity
/// fell (a policy or an operator); terminations that replace an unhealthy instance are not
/// scale-ins.
pub fn scale_in_capacities(activity: &Activity) -> Option<(u32, u32)> {
    if !activity.description.starts_with("Terminating EC2 instance") {
        return None;
    }
    capacities(&activity.cause).filter(|(from, to)| to < from)
}

/// The decisions among `activities` that `capacities_of` recognises: AWS records one
/// activity per instance, with one cause, so a change from 1 to 3 is two activities and one
/// decision, timed from its first activity. (activity, (from, to), instances) in the order
/// first seen.
fn decisions(
    activities: &[Activity],
    capacities_of: fn(&Activity) -> Option<(u32, u32)>,
) -> Vec<(&Activity, (u32, u32), u32)> {
    let mut decisions: Vec<(&Activity, (u32, u32), u32)> = Vec::new();
    for activity in activities {
        let Some(capacities) = capacities_of(activity) else {
            continue;
        };
        let same = decisions.iter_mut().find(|(seen, _, _)| {
            seen.auto_scaling_group_name == activity.auto_scaling_group_name
                && seen.cause == activity.cause
        });
        match same {
            Some((seen, _, instances)) => {
                *instances += 1;
                if activity.start_time < seen.start_time {
                    *seen = activity;
                }
            }
            None => decisions.push((activity, capacities, 1)),
        }
    }
    decisions
}

/// "… changing the desired capacity from 1 to 2" → (1, 2).
fn capacities(cause: &str) -> Option<(u32, u32)> {
    let rest = cause.split("desired capacity from ").nth(1)?;
    let mut words = rest.split_whitespace();
    let from = words.next()?.parse().ok()?;
    let to = words.nth(1)?.trim_end_matches('.').parse().ok()?;
    Some((from, to))
}

/// "At 2026-11-23T03:20:04Z a monitor alarm …" → that time.
fn alarm_time(cause: &str) -> Option<OffsetDateTime> {
    let stamp = cause.strip_prefix("At ")?.split_whitespace().next()?;
    OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).ok()
}

fn seconds_between(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<f64> {
    Some((b? - a?).as_seconds_f64())
}

/// The reaction chain of each scale-out among `activities`, judged against `slo_p95_ms`.
pub fn scale_outs(
    run_id: &str,
    timeline: &Timeline,
    activities: &[Activity],
    slo_p95_ms: f64,
    warmup_secs: impl Fn(&str) -> Option<f64>,
) -> Vec<ScaleOut> {
    let slo_us = (slo_p95_ms * 1000.0) as u64;
    decisions(activities, scale_out_capacities)
        .into_iter()
        .map(|(activity, (from_capacity, to_capacity), launches)| {
            let alarm_at = alarm_time(&activity.cause);
            let activity_at = activity.start_time;
            let trigger = alarm_at.unwrap_or(activity_at).unix_timestamp();

            let before = timeline
                .worst_p95_per_second(Window::new(trigger - BREACH_LOOKBACK_SECONDS, trigger + 1));
            // The breach still going at the alarm: walk back while seconds breach.
            let breach_at = match before.last() {
                Some(&(second, p95)) if p95 > slo_us && second >= trigger - 1 => {
                    let mut first = second;
                    for &(s, p) in before.iter().rev() {
                        if p <= slo_us || s + 1 < first {
                            break;
                        }
                        first = s;
                    }
                    Some(at(first))
                }
                _ => None,
            };

            let in_service = Kpi::InService(activity.auto_scaling_group_name.clone());
            let in_service_at = timeline
                .kpi_series(
                    &in_service,
                    Window::new(activity_at.unix_timestamp(), i64::MAX),
                )
                .into_iter()
                .find(|&(_, v)| v >= f64::from(to_capacity))
                .map(|(t, _)| at(t));

            let recovered_at = match (breach_at, in_service_at) {
                (Some(_), Some(in_service)) => {
                    let after = timeline
                        .worst_p95_per_second(Window::new(in_service.unix_timestamp(), i64::MAX));
                    after
                        .windows(RECOVERY_SECONDS)
                        .find(|w| {
                            w.iter().all(|&(_, p)| p <= slo_us)
                                && w.last().unwrap().0 - w[0].0 == RECOVERY_SECONDS as i64 - 1
                        })
                        .map(|w| at(w[0].0))
                }
                _ => None,
            };
            let start = breach_at.or(alarm_at);
            let warmed_up_at = in_service_at
                .zip(warmup_secs(&activity.auto_scaling_group_name))
                .map(|(at, warmup)| at + time::Duration::seconds_f64(warmup));
            ScaleOut {
                run_id: run_id.to_owned(),
                group: activity.auto_scaling_group_name.clone(),
                activity_id: activity.activity_id.clone(),
                launches,
                cause: activity.cause.clone(),
                from_capacity,
                to_capacity,
                breach_at,
                alarm_at,
                activity_at,
                in_service_at,
                warmed_up_at,
                recovered_at,
                breach_to_activity_s: seconds_between(breach_at, Some(activity_at)),
                activity_to_in_service_s: seconds_between(Some(activity_at), in_service_at),
                in_service_to_warmed_up_s: seconds_between(in_service_at, warmed_up_at),
                in_service_to_recovered_s: seconds_between(in_service_at, recovered_at),
                total_s: seconds_between(start, recovered_at.or(in_service_at)),
            }
        })
        .collect()
}

/// Each scale-in among `activities`: how fast it took instances out of service, how long
/// the capacity it removed had been kept, and whether the group scaled out again soon after.
pub fn scale_ins(run_id: &str, timeline: &Timeline, activities: &[Activity]) -> Vec<ScaleIn> {
    let outs = decisions(activities, scale_out_capacities);
    decisions(activities, scale_in_capacities)
        .into_iter()
        .map(|(activity, (from_capacity, to_capacity), terminations)| {
            let group = &activity.auto_scaling_group_name;
            let activity_at = activity.start_time;
            let alarm_at = alarm_time(&activity.cause);
            let out_of_service_at = timeline
                .kpi_series(
                    &Kpi::InService(group.clone()),
                    Window::new(activity_at.unix_timestamp(), i64::MAX),
                )
                .into_iter()
                .find(|&(_, v)| v <= f64::from(to_capacity))
                .map(|(t, _)| at(t));
            let group_outs = outs
                .iter()
                .filter(|(a, _, _)| &a.auto_scaling_group_name == group)
                .map(|(a, _, _)| a.start_time);
            let previous_out = group_outs.clone().filter(|t| *t <= activity_at).max();
            let next_out = group_outs.filter(|t| *t > activity_at).min();
            ScaleIn {
                run_id: run_id.to_owned(),
                group: group.clone(),
                activity_id: activity.activity_id.clone(),
                terminations,
                cause: activity.cause.clone(),
                from_capacity,
                to_capacity,
                alarm_at,
                activity_at,
                out_of_service_at,
                alarm_to_activity_s: seconds_between(alarm_at, Some(activity_at)),
                activity_to_out_of_service_s: seconds_between(Some(activity_at), out_of_service_at),
                since_scale_out_s: seconds_between(previous_out, Some(activity_at)),
                flapped: next_out
                    .is_some_and(|t| (t - activity_at).as_seconds_f64() <= FLAP_WINDOW_S),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rundir::{Interval, MetricRow};
    use std::time::Duration;

    fn activity(start: i64, cause: &str) -> Activity {
        Activity {
            activity_id: "a-1".into(),
            auto_scaling_group_name: "web".into(),
            description: "Launching a new EC2 instance: i-0000000000000002".into(),
            cause: cause.into(),
            start_time: at(start),
            end_time: Some(at(start + 1)),
            status_code: "Successful".into(),
            status_message: None,
            progress: 100,
            details: "{}".into(),
        }
    }

    /// p95 per second from `p95_ms`, and in-service counts from `in_service`, from second 100.
    fn timeline(p95_ms: &[u64], in_service: &[f64]) -> Timeline {
        let intervals: Vec<crate::timeline::RecordedInterval> = p95_ms
            .iter()
            .enumerate()
            .map(|(i, ms)| {
                let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
                h.record(ms * 1000).unwrap();
                crate::timeline::RecordedInterval::from(&Interval {
                    tag: Some("get".into()),
                    start: Duration::from_secs(100 + i as u64),
                    duration: Duration::from_secs(1),
                    histogram: h,
                })
            })
            .collect();
        let metrics: Vec<MetricRow> = in_service
            .iter()
            .enumerate()
            .map(|(i, v)| MetricRow {
                timestamp: at(100 + i as i64),
                namespace: "AWS/AutoScaling".into(),
                metric: "GroupInServiceInstances".into(),
                dimensions: vec![("AutoScalingGroupName".into(), "web".into())],
                statistic: "Average".into(),
                value: *v,
                unit: "None".into(),
            })
            .collect();
        Timeline::new(&intervals, &[], &metrics)
    }

    #[test]
    fn the_chain_from_breach_to_recovery_in_seconds() {
        // Seconds 100..: fine, fine, breach ×4 (102..105), fine from 106 on.
        let t = timeline(
            &[100, 100, 1500, 1600, 1700, 1200, 200, 200, 200, 200],
            &[1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0],
        );
        let cause = "At 2026-01-01T00:00:00Z a monitor alarm X in state ALARM triggered policy \
                     web-cpu changing the desired capacity from 1 to 2.";
        let mut a = activity(104, cause);
        // The alarm time in the cause is far from this synthetic timeline; use a local one.
        a.cause = a.cause.replace(
            "2026-01-01T00:00:00Z",
            &at(103)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
        );
        let outs = scale_outs("r", &t, &[a], 1000.0, |_| None);
        assert_eq!(outs.len(), 1);
        let o = &outs[0];
        assert_eq!((o.from_capacity, o.to_capacity), (1, 2));
        assert_eq!(o.breach_at, Some(at(102)));
        assert_eq!(o.alarm_at, Some(at(103)));
        assert_eq!(o.in_service_at, Some(at(105)));
        // Without the run's warm-up, when the metrics began to count is no data.
        assert_eq!((o.warmed_up_at, o.in_service_to_warmed_up_s), (None, None));
        assert_eq!(o.recovered_at, Some(at(106)));
        assert_eq!(o.breach_to_activity_s, Some(2.0));
        assert_eq!(o.activity_to_in_service_s, Some(1.0));
        assert_eq!(o.in_service_to_recovered_s, Some(1.0));
        assert_eq!(o.total_s, Some(4.0));
    }

    #[test]
    fn a_scale_out_before_any_breach_has_no_breach_and_no_recovery() {
        let t = timeline(&[100; 6], &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        let cause = "a user request explicitly set group desired capacity changing the \
                     desired capacity from 1 to 2.";
        let outs = scale_outs("r", &t, &[activity(101, cause)], 1000.0, |_| Some(30.0));
        let o = &outs[0];
        assert_eq!(o.breach_at, None);
        assert_eq!(o.to_capacity, 2);
        assert_eq!(o.in_service_at, Some(at(103)));
        // The group's 30 s warm-up: its metrics count from in service + 30 s.
        assert_eq!(o.warmed_up_at, Some(at(133)));
        assert_eq!(o.in_service_to_warmed_up_s, Some(30.0));
        assert_eq!(o.recovered_at, None);
        assert_eq!(
            o.total_s, None,
            "neither a breach nor an alarm time to count from"
        );
    }

    #[test]
    fn launches_that_create_a_group_or_replace_an_instance_are_not_scale_outs() {
        let t = timeline(&[100], &[1.0]);
        for cause in [
            "the group was created",
            "an instance was taken out of service in response to a health check",
            "At 2026-01-01T00:00:00Z a monitor alarm X in state ALARM triggered policy Y \
             changing the desired capacity from 3 to 2.",
        ] {
            let outs = scale_outs("r", &t, &[activity(100, cause)], 1000.0, |_| None);
            assert!(outs.is_empty(), "{cause}");
        }
    }

    fn terminating(start: i64, from: u32, to: u32) -> Activity {
        Activity {
            activity_id: format!("t-{start}"),
            description: "Terminating EC2 instance: i-0000000000000002".into(),
            ..activity(
                start,
                &format!(
                    "At {} a monitor alarm X-AlarmLow in state ALARM triggered policy web-cpu \
                     changing the desired capacity from {from} to {to}.",
                    at(start - 2)
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap()
                ),
            )
        }
    }

    #[test]
    fn a_scale_in_is_timed_and_a_scale_out_soon_after_it_is_a_flap() {
        // In service 2 until second 104, then 1; the group scales out again at 300.
        let t = timeline(
            &[100; 10],
            &[2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        );
        // AWS's causes start with the alarm's time, so two decisions never share one.
        let grow = |start: i64, from, to| {
            activity(
                start,
                &format!(
                    "At {} a monitor alarm X-AlarmHigh in state ALARM triggered policy web-cpu \
                     changing the desired capacity from {from} to {to}.",
                    at(start - 1)
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap()
                ),
            )
        };
        let activities = [grow(40, 1, 2), terminating(102, 2, 1), grow(300, 1, 2)];
        let ins = scale_ins("r", &t, &activities);
        assert_eq!(ins.len(), 1, "{ins:?}");
        let i = &ins[0];
        assert_eq!((i.from_capacity, i.to_capacity, i.terminations), (2, 1, 1));
        assert_eq!(i.alarm_to_activity_s, Some(2.0));
        assert_eq!(i.out_of_service_at, Some(at(105)));
        assert_eq!(i.activity_to_out_of_service_s, Some(3.0));
        assert_eq!(i.since_scale_out_s, Some(62.0));
        assert!(i.flapped, "out again 198 s later");

        let settled = scale_ins("r", &t, &[grow(40, 1, 2), terminating(102, 2, 1)]);
        assert!(!settled[0].flapped);
        let late = scale_ins(
            "r",
            &t,
            &[
                terminating(102, 2, 1),
                grow(102 + FLAP_WINDOW_S as i64 + 1, 1, 2),
            ],
        );
        assert!(!late[0].flapped, "beyond the flap window");
        assert_eq!(late[0].since_scale_out_s, None, "no scale-out before it");
    }

    #[test]
    fn replacing_an_unhealthy_instance_is_not_a_scale_in() {
        let mut a = terminating(100, 2, 1);
        a.cause = "an instance was taken out of service in response to a health check".into();
        assert!(scale_ins("r", &timeline(&[1], &[1.0]), &[a]).is_empty());
    }

    #[test]
    fn scale_ins_are_not_scale_outs() {
        let mut a = activity(100, "x");
        a.description = "Terminating EC2 instance: i-1".into();
        assert!(scale_outs("r", &timeline(&[1], &[1.0]), &[a], 1000.0, |_| None).is_empty());
    }

    /// Regression (issue 15, defect 7): a scale-out from 1 to 3 launches two instances, two
    /// activities with one cause, and the report listed it twice.
    #[test]
    fn the_activities_of_one_decision_are_one_scale_out() {
        let t = timeline(&[100; 6], &[1.0, 1.0, 1.0, 3.0, 3.0, 3.0]);
        let cause = "a user request explicitly set group desired capacity changing the \
                     desired capacity from 1 to 3.";
        let mut second = activity(101, cause);
        second.activity_id = "a-2".into();
        let first = activity(100, cause);
        let later = activity(
            104,
            "a user request explicitly set group desired capacity changing the desired \
             capacity from 3 to 4.",
        );
        let outs = scale_outs("r", &t, &[second, first, later], 1000.0, |_| None);
        assert_eq!(outs.len(), 2, "{outs:?}");
        assert_eq!((outs[0].from_capacity, outs[0].to_capacity), (1, 3));
        assert_eq!(outs[0].launches, 2);
        assert_eq!(
            outs[0].activity_at,
            at(100),
            "timed from its first activity"
        );
        assert_eq!(outs[0].activity_to_in_service_s, Some(3.0));
        assert_eq!((outs[1].to_capacity, outs[1].launches), (4, 1));
    }
}
