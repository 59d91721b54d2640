//! One generator's part of a load spread over a fleet (`loadgen run --shard i/n`): users
//! split as evenly as whole users allow, arrival rates split exactly, so that the fleet's
//! generators together apply the level one generator would have.

use std::fmt;
use std::str::FromStr;

/// Generator `index` of `count` (1-based, as written on the command line: `2/4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "shard {index}/{count}: write I/N with 1 ≤ I ≤ N, e.g. 1/4 … 4/4"
            ));
        }
        Ok(Shard { index, count })
    }

    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// This shard's users of `users` (closed model): the first `users mod n` shards take
    /// one more, so the shares add up to `users` exactly.
    pub fn users(self, users: u32) -> u32 {
        let base = users / self.count;
        let extra = u32::from(self.index <= users % self.count);
        base + extra
    }

    /// This shard's arrivals per second of `rate` (open model).
    pub fn rate(self, rate: f64) -> f64 {
        rate / f64::from(self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let (index, count) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard {s:?}: write I/N, e.g. 2/4"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("--shard {s:?}: {part:?} is not a whole number"))
        };
        Shard::new(number(index)?, number(count)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard::new(2, 4).unwrap());
        for bad in ["0/4", "5/4", "1/0", "4", "a/b", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ten_users_over_four_generators() {
        let shares: Vec<u32> = (1..=4)
            .map(|i| Shard::new(i, 4).unwrap().users(10))
            .collect();
        assert_eq!(shares, [3, 3, 2, 2]);
    }

    proptest! {
        #[test]
        fn shares_add_up_to_the_whole(users in 0u32..100_000, rate in 0.0f64..1e6, count in 1u32..64) {
            let shards: Vec<Shard> = (1..=count).map(|i| Shard::new(i, count).unwrap()).collect();
            prop_assert_eq!(shards.iter().map(|s| s.users(users)).sum::<u32>(), users);
            let shares: Vec<u32> = shards.iter().map(|s| s.users(users)).collect();
            prop_assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
            let total: f64 = shards.iter().map(|s| s.rate(rate)).sum();
            prop_assert!((total - rate).abs() <= rate * 1e-12 + 1e-12);
        }
    }
}
