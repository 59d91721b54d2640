//! Load profiles: the shapes of load the course asks for (smoke, ramp, sustained, and the
//! search for the highest level that holds the SLO), as stages over time.
//!
//! A profile only gives the shape. The level is users (closed model) or arrivals per
//! second (open model), and the load generator decides which. Every duration is
//! multiplied by one time scale, so CI can run a full profile in seconds.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One stage: move to `level` (linearly when `ramp`, at once otherwise) and run for
/// `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSpec {
    pub name: String,
    pub duration: Duration,
    /// Users or arrivals per second at the end of the stage.
    pub level: f64,
    pub ramp: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileName {
    Smoke,
    Ramp,
    Sustained,
    Search,
}

impl ProfileName {
    pub const ALL: [ProfileName; 4] = [Self::Smoke, Self::Ramp, Self::Sustained, Self::Search];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smoke => "smoke",
            Self::Ramp => "ramp",
            Self::Sustained => "sustained",
            Self::Search => "search",
        }
    }

    /// One line for `loadgen list`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Smoke => "5 users (or 5/s) for 1 min: everything answers and telemetry is live",
            Self::Ramp => "0 → X in 3 min, hold X for 5 min (X = --users or --rate, default 100)",
            Self::Sustained => "80% of X for 5 min (X = the best level that held)",
            Self::Search => {
                "ramp runs at X = start, start+step, … until one breaks the SLO; reports the best that held"
            }
        }
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProfileName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!("unknown profile {s:?}; choose one of smoke, ramp, sustained, search")
            })
    }
}

/// A positive factor applied to every duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeScale(f64);

impl TimeScale {
    pub const REAL: TimeScale = TimeScale(1.0);

    pub fn parse(value: f64) -> Result<Self, String> {
        if value.is_finite() && value > 0.0 && value <= 100.0 {
            Ok(Self(value))
        } else {
            Err(format!(
                "time scale {value} must be > 0 and ≤ 100 (0.01 runs a 5 min stage in 3 s)"
            ))
        }
    }

    pub fn factor(self) -> f64 {
        self.0
    }

    pub fn apply(self, d: Duration) -> Duration {
        d.mul_f64(self.0)
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// The stages of `profile` at `level`. `hold` overrides the length of the steady part
/// (`--duration`). Search is one ramp per level: see [`search_levels`].
pub fn stages(
    profile: ProfileName,
    level: f64,
    hold: Option<Duration>,
    scale: TimeScale,
) -> Vec<StageSpec> {
    let stage = |name: String, duration: Duration, level: f64, ramp: bool| StageSpec {
        name,
        duration: scale.apply(duration),
        level,
        ramp,
    };
    match profile {
        ProfileName::Smoke => vec![stage(
            format!("smoke at {}", rundir::Stage::level_text(level)),
            hold.unwrap_or(MINUTE),
            level,
            false,
        )],
        ProfileName::Ramp | ProfileName::Search => vec![
            stage(
                format!("ramp to {}", rundir::Stage::level_text(level)),
                3 * MINUTE,
                level,
                true,
            ),
            stage(
                format!("hold {}", rundir::Stage::level_text(level)),
                hold.unwrap_or(5 * MINUTE),
                level,
                false,
            ),
        ],
        ProfileName::Sustained => {
            let level = (level * 0.8).max(1.0);
            vec![stage(
                format!("sustained at {}", rundir::Stage::level_text(level)),
                hold.unwrap_or(5 * MINUTE),
                level,
                false,
            )]
        }
    }
}

/// The default level of a profile when neither users nor rate is given.
pub fn default_level(profile: ProfileName) -> f64 {
    match profile {
        ProfileName::Smoke => 5.0,
        _ => 100.0,
    }
}

/// The levels a search tries, in order: start, start+step, … up to `max` inclusive.
pub fn search_levels(start: f64, step: f64, max: f64) -> Result<Vec<f64>, String> {
    if !(start > 0.0 && step > 0.0 && max >= start) {
        return Err(format!(
            "search needs start > 0, step > 0 and max ≥ start (got start {start}, step {step}, max {max})"
        ));
    }
    let count = ((max - start) / step).floor() as usize + 1;
    if count > 1000 {
        return Err(format!(
            "search would try {count} levels; raise the step or lower the maximum"
        ));
    }
    Ok((0..count).map(|i| start + step * i as f64).collect())
}

/// Total length of a list of stages.
pub fn total(stages: &[StageSpec]) -> Duration {
    stages.iter().map(|s| s.duration).sum()
}

/// The level at `elapsed` into the stages, interpolating ramps from the previous level
/// (0 before the first stage). After the end, 0.
pub fn level_at(stages: &[StageSpec], elapsed: Duration) -> f64 {
    let mut start = Duration::ZERO;
    let mut previous = 0.0;
    for stage in stages {
        let end = start + stage.duration;
        if elapsed < end {
            if !stage.ramp || stage.duration.is_zero() {
                return stage.level;
            }
            let progress = (elapsed - start).as_secs_f64() / stage.duration.as_secs_f64();
            return previous + (stage.level - previous) * progress;
        }
        previous = stage.level;
        start = end;
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_course_profiles_at_real_time() {
        let smoke = stages(ProfileName::Smoke, 5.0, None, TimeScale::REAL);
        assert_eq!(smoke.len(), 1);
        assert_eq!((smoke[0].duration, smoke[0].level), (MINUTE, 5.0));
        let ramp = stages(ProfileName::Ramp, 300.0, None, TimeScale::REAL);
        assert_eq!(
            ramp.iter().map(|s| s.duration).collect::<Vec<_>>(),
            vec![3 * MINUTE, 5 * MINUTE]
        );
        assert!(ramp[0].ramp && !ramp[1].ramp);
        let sustained = stages(ProfileName::Sustained, 300.0, None, TimeScale::REAL);
        assert_eq!(sustained[0].level, 240.0);
        assert_eq!(total(&sustained), 5 * MINUTE);
    }

    #[test]
    fn time_scale_compresses_every_duration() {
        let scaled = stages(
            ProfileName::Ramp,
            100.0,
            None,
            TimeScale::parse(0.01).unwrap(),
        );
        assert_eq!(total(&scaled), Duration::from_millis(4_800));
        assert!(TimeScale::parse(0.0).is_err());
        assert!(TimeScale::parse(f64::NAN).is_err());
    }

    #[test]
    fn ramps_interpolate_and_holds_stay() {
        let ramp = stages(ProfileName::Ramp, 100.0, None, TimeScale::REAL);
        assert_eq!(level_at(&ramp, Duration::ZERO), 0.0);
        assert_eq!(level_at(&ramp, Duration::from_secs(90)), 50.0);
        assert_eq!(level_at(&ramp, Duration::from_secs(200)), 100.0);
        assert_eq!(level_at(&ramp, 9 * MINUTE), 0.0);
    }

    #[test]
    fn search_levels_step_up_to_the_maximum() {
        assert_eq!(
            search_levels(100.0, 100.0, 350.0).unwrap(),
            vec![100.0, 200.0, 300.0]
        );
        assert!(search_levels(0.0, 100.0, 300.0).is_err());
        assert!(search_levels(1.0, 0.001, 10_000.0).is_err());
        assert!("nope".parse::<ProfileName>().unwrap_err().contains("smoke"));
    }

    proptest! {
        #[test]
        fn the_level_never_leaves_the_range_of_the_stages(
            levels in proptest::collection::vec(0.0f64..1000.0, 1..6),
            ramps in proptest::collection::vec(any::<bool>(), 6),
            at in 0u64..2000,
        ) {
            let stages: Vec<StageSpec> = levels.iter().zip(&ramps).map(|(l, r)| StageSpec {
                name: String::new(), duration: Duration::from_secs(300), level: *l, ramp: *r,
            }).collect();
            let max = levels.iter().cloned().fold(0.0, f64::max);
            let level = level_at(&stages, Duration::from_secs(at));
            prop_assert!((0.0..=max + 1e-9).contains(&level));
        }
    }
}
