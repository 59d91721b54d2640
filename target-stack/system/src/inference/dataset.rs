//! The synthetic classification set seed 000's app trains on, made in-process: scikit-learn's
//! `make_classification(n_samples=1000, n_features=20, n_informative=10, n_redundant=10)`
//! rebuilt from its description (the numbers differ from scikit-learn's, the shape does not).
//!
//! Each class has two clusters of points around vertices of a 10-dimensional hypercube of
//! side 2 (`class_sep` = 1); a cluster's points are standard normal, linearly mixed by a
//! random matrix, around their vertex. The 10 redundant features are random linear
//! combinations of the 10 informative ones, and 1 % of the labels are flipped at random.
//! The same seed always gives the same set (a `StdRng` of the locked `rand` version).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Features per sample: what `/predict` takes.
pub const FEATURES: usize = 20;
/// Samples in the training set.
pub const SAMPLES: usize = 1_000;
/// The seed of seed 000's app (`random_state=42`).
pub const SEED: u64 = 42;

const INFORMATIVE: usize = 10;
pub const CLASSES: usize = 2;
const CLUSTERS_PER_CLASS: usize = 2;
const FLIP_Y: f64 = 0.01;

/// Samples (rows of [`FEATURES`] numbers) and their class (0 or 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub rows: Vec<[f64; FEATURES]>,
    pub labels: Vec<u32>,
}

impl Dataset {
    /// [`SAMPLES`] samples made from `seed`.
    pub fn synthetic(seed: u64) -> Self {
        Self::synthetic_of(SAMPLES, seed)
    }

    /// `samples` samples made from `seed`.
    pub fn synthetic_of(samples: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let clusters = CLASSES * CLUSTERS_PER_CLASS;
        let centroids = distinct_vertices(&mut rng, clusters);
        // Each cluster's covariance: standard normal points times a random matrix.
        let mixes: Vec<[[f64; INFORMATIVE]; INFORMATIVE]> =
            (0..clusters).map(|_| uniform_matrix(&mut rng)).collect();
        let redundant = uniform_matrix(&mut rng);

        let mut rows = Vec::with_capacity(samples);
        let mut labels = Vec::with_capacity(samples);
        for i in 0..samples {
            // Clusters take turns, so each class gets half the samples.
            let cluster = i % clusters;
            let normal: Vec<f64> = (0..INFORMATIVE)
                .map(|_| standard_normal(&mut rng))
                .collect();
            let mut row = [0.0; FEATURES];
            for (j, value) in row.iter_mut().take(INFORMATIVE).enumerate() {
                let mixed: f64 = (0..INFORMATIVE)
                    .map(|k| normal[k] * mixes[cluster][k][j])
                    .sum();
                *value = mixed + centroids[cluster][j];
            }
            for j in 0..INFORMATIVE {
                row[INFORMATIVE + j] = (0..INFORMATIVE).map(|k| row[k] * redundant[k][j]).sum();
            }
            rows.push(row);
            labels.push((cluster % CLASSES) as u32);
        }
        for label in &mut labels {
            if rng.random::<f64>() < FLIP_Y {
                *label = rng.random_range(0..CLASSES as u32);
            }
        }
        let mut order: Vec<usize> = (0..samples).collect();
        order.shuffle(&mut rng);
        Self {
            rows: order.iter().map(|&i| rows[i]).collect(),
            labels: order.iter().map(|&i| labels[i]).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The first `n` samples and the rest.
    pub fn split_at(&self, n: usize) -> (Self, Self) {
        let n = n.min(self.len());
        (
            Self {
                rows: self.rows[..n].to_vec(),
                labels: self.labels[..n].to_vec(),
            },
            Self {
                rows: self.rows[n..].to_vec(),
                labels: self.labels[n..].to_vec(),
            },
        )
    }
}

/// `n` distinct vertices of the hypercube {-1, 1}^INFORMATIVE.
fn distinct_vertices(rng: &mut StdRng, n: usize) -> Vec<[f64; INFORMATIVE]> {
    let mut codes: Vec<u32> = (0..1u32 << INFORMATIVE).collect();
    codes.shuffle(rng);
    codes
        .into_iter()
        .take(n)
        .map(|code| std::array::from_fn(|bit| if (code >> bit) & 1 == 1 { 1.0 } else { -1.0 }))
        .collect()
}

fn uniform_matrix(rng: &mut StdRng) -> [[f64; INFORMATIVE]; INFORMATIVE] {
    std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)))
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut StdRng) -> f64 {
    // 1 - u is in (0, 1]: its logarithm is finite.
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_has_the_seeds_shape_and_balanced_classes() {
        let data = Dataset::synthetic(SEED);
        assert_eq!(data.len(), SAMPLES);
        assert_eq!(data.labels.len(), SAMPLES);
        let ones = data.labels.iter().filter(|&&l| l == 1).count();
        assert!((450..=550).contains(&ones), "class 1 has {ones} of 1000");
        assert!(data.labels.iter().all(|&l| l < 2));
        assert!(data.rows.iter().flatten().all(|v| v.is_finite()));
    }

    #[test]
    fn the_same_seed_gives_the_same_set_and_another_seed_another() {
        assert_eq!(Dataset::synthetic(SEED), Dataset::synthetic(SEED));
        assert_ne!(Dataset::synthetic(SEED), Dataset::synthetic(SEED + 1));
    }

    #[test]
    fn redundant_features_follow_the_informative_ones() {
        // Each redundant feature is a combination of the informative ones, so some
        // informative feature correlates with it clearly; independent noise would not.
        let data = Dataset::synthetic(SEED);
        for r in INFORMATIVE..FEATURES {
            let strongest = (0..INFORMATIVE)
                .map(|i| correlation(&data, i, r).abs())
                .fold(0.0, f64::max);
            assert!(
                strongest > 0.2,
                "feature {r}: strongest correlation {strongest}"
            );
        }
    }

    fn correlation(data: &Dataset, i: usize, j: usize) -> f64 {
        let n = data.len() as f64;
        let mean = |k: usize| data.rows.iter().map(|r| r[k]).sum::<f64>() / n;
        let (mi, mj) = (mean(i), mean(j));
        let cov: f64 = data.rows.iter().map(|r| (r[i] - mi) * (r[j] - mj)).sum();
        let var = |k: usize, m: f64| data.rows.iter().map(|r| (r[k] - m).powi(2)).sum::<f64>();
        cov / (var(i, mi) * var(j, mj)).sqrt()
    }
}
