//! Think time: the pause a person takes between two actions. With it, "N users" means N
//! people, and the interactive response-time law holds: a closed system of N users that
//! each think Z between answers of mean response time R serves X = N / (R + Z).

use std::fmt;
use std::time::Duration;

use rand::Rng;

/// How long a user pauses after an iteration (or a step): constant, uniform in a range, or
/// exponential with a mean (a memoryless person, as in queueing models).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThinkTime {
    Constant(Duration),
    Uniform { min: Duration, max: Duration },
    Exponential { mean: Duration },
}

/// Exponential draws are cut at this many means: a draw of 20 means (one in 500 million)
/// would hold a user for the rest of a short run.
const EXPONENTIAL_CAP: f64 = 20.0;

impl ThinkTime {
    /// Parses `1s`, `500ms`, `1s..3s` (uniform) or `exp:2s` (exponential, mean 2 s).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let duration = |part: &str| {
            rundir::parse_duration(part).map_err(|e| format!("think time {text:?}: {e}"))
        };
        if let Some(mean) = text.strip_prefix("exp:") {
            let mean = duration(mean)?;
            if mean.is_zero() {
                return Err(format!(
                    "think time {text:?}: an exponential mean must be above zero"
                ));
            }
            return Ok(Self::Exponential { mean });
        }
        if let Some((min, max)) = text.split_once("..") {
            let (min, max) = (duration(min)?, duration(max)?);
            if min > max {
                return Err(format!(
                    "think time {text:?}: the range's start is after its end; write it as min..max"
                ));
            }
            return Ok(Self::Uniform { min, max });
        }
        duration(text).map(Self::Constant).map_err(|e| {
            format!("{e}; a think time is a duration (1s), a range (1s..3s) or exp:MEAN (exp:2s)")
        })
    }

    /// The mean pause: the Z of the response-time law.
    pub fn mean(&self) -> Duration {
        match *self {
            Self::Constant(d) => d,
            Self::Uniform { min, max } => (min + max) / 2,
            // The cut at EXPONENTIAL_CAP means lowers the mean by e^-20: nothing.
            Self::Exponential { mean } => mean,
        }
    }

    /// One pause.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Self::Constant(d) => d,
            Self::Uniform { min, max } if min == max => min,
            Self::Uniform { min, max } => rng.random_range(min..=max),
            Self::Exponential { mean } => {
                // Inverse transform: -ln(U) is exponential with mean 1, U in (0, 1].
                let u: f64 = 1.0 - rng.random::<f64>();
                mean.mul_f64((-u.ln()).min(EXPONENTIAL_CAP))
            }
        }
    }
}

/// How long a closed-model user waits after an iteration that took `iteration_took`: its
/// think time, and with `pacing` at least what is left of the pacing interval (so that
/// iterations start no closer than `pacing` apart).
pub fn pause_after(
    think: Option<&ThinkTime>,
    pacing: Option<Duration>,
    iteration_took: Duration,
    rng: &mut impl Rng,
) -> Duration {
    let think = think.map_or(Duration::ZERO, |t| t.sample(rng));
    let rest_of_pacing = pacing.map_or(Duration::ZERO, |p| p.saturating_sub(iteration_took));
    think.max(rest_of_pacing)
}

/// `250ms`, `2s`, `1.5s`: the shortest form [`rundir::parse_duration`] reads back.
fn show(d: Duration) -> String {
    if !d.subsec_nanos().is_multiple_of(1_000_000) || d < Duration::from_secs(1) {
        format!("{}ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

impl fmt::Display for ThinkTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Constant(d) => write!(f, "{}", show(d)),
            Self::Uniform { min, max } => write!(f, "{}..{}", show(min), show(max)),
            Self::Exponential { mean } => write!(f, "exp:{}", show(mean)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn the_three_forms_parse_and_print_back() {
        for text in ["1s", "500ms", "1s..3s", "exp:2s"] {
            let think = ThinkTime::parse(text).unwrap();
            assert_eq!(
                ThinkTime::parse(&think.to_string()).unwrap(),
                think,
                "{text}"
            );
        }
        assert_eq!(
            ThinkTime::parse("1s..3s").unwrap().mean(),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn mistakes_are_named_with_the_fix() {
        let e = ThinkTime::parse("3s..1s").unwrap_err();
        assert!(e.contains("min..max"), "{e}");
        let e = ThinkTime::parse("soon").unwrap_err();
        assert!(e.contains("exp:MEAN"), "{e}");
        assert!(ThinkTime::parse("exp:0s").is_err());
    }

    #[test]
    fn exponential_draws_have_their_mean() {
        let think = ThinkTime::parse("exp:100ms").unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let n = 20_000;
        let total: Duration = (0..n).map(|_| think.sample(&mut rng)).sum();
        let mean = total.as_secs_f64() / n as f64;
        // The standard error of the mean is 0.1 / sqrt(20,000) = 0.7 ms; 4 of them.
        assert!((mean - 0.1).abs() < 0.003, "mean {mean}");
    }

    proptest! {
        #[test]
        fn pacing_keeps_iterations_apart(took in 0u64..5_000, pacing in 0u64..5_000, think in 0u64..5_000) {
            let (took, pacing, think) =
                (Duration::from_millis(took), Duration::from_millis(pacing), Duration::from_millis(think));
            let pause = pause_after(
                Some(&ThinkTime::Constant(think)), Some(pacing), took, &mut SmallRng::seed_from_u64(0),
            );
            prop_assert!(took + pause >= pacing);
            prop_assert!(pause >= think);
            prop_assert!(pause == think || took + pause == pacing);
        }

        #[test]
        fn uniform_draws_stay_in_their_range(min in 0u64..5_000, span in 0u64..5_000, seed: u64) {
            let (min, max) = (Duration::from_millis(min), Duration::from_millis(min + span));
            let think = ThinkTime::Uniform { min, max };
            let mut rng = SmallRng::seed_from_u64(seed);
            for _ in 0..100 {
                let pause = think.sample(&mut rng);
                prop_assert!(min <= pause && pause <= max);
            }
        }
    }
}
