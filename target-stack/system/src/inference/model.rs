//! The model: a random forest of [`TREES`] trees (smartcore) trained on the synthetic set,
//! and one prediction with its probability. Pure: no I/O, no clock but the training time it
//! reports.

use std::time::{Duration, Instant};

use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::dataset::{CLASSES, Dataset, FEATURES};

/// Trees in the forest (seed 000's `n_estimators=50`).
pub const TREES: u16 = 50;

/// One tree of the forest: smartcore's random forest of a single tree (a bootstrap sample,
/// a random subset of features at each split). smartcore's forest keeps its trees private
/// and says only the winning class; a forest of one-tree forests, each with its own seed,
/// is the same forest with its votes in view, and the vote share is the probability (as
/// scikit-learn's `predict_proba` for fully grown trees).
type Tree = RandomForestClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;

/// Training failed (smartcore's reason).
#[derive(Debug, thiserror::Error)]
#[error("cannot train the model: {0}")]
pub struct TrainError(String);

/// A trained forest and what is known of it.
pub struct Model {
    trees: Vec<Tree>,
    facts: ModelFacts,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("facts", &self.facts).finish()
    }
}

/// What `/info` tells about the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelFacts {
    pub kind: &'static str,
    pub library: &'static str,
    pub trees: u16,
    pub features: usize,
    pub classes: usize,
    pub training_samples: usize,
    pub training_seed: u64,
    pub training_time_ms: f64,
    /// Share of the training set the model predicts right.
    pub training_accuracy: f64,
}

/// One prediction: the class and the share of trees that voted for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub class: u32,
    pub probability: f64,
}

impl Model {
    /// Trains [`TREES`] trees on `data` with `seed` (bootstrap samples and split candidates).
    pub fn train(data: &Dataset, trees: u16, seed: u64) -> Result<Self, TrainError> {
        let started = Instant::now();
        let x = matrix(&data.rows)?;
        let forest = (0..u64::from(trees))
            .map(|i| {
                let parameters = RandomForestClassifierParameters::default()
                    .with_n_trees(1)
                    .with_seed(seed.wrapping_add(i));
                Tree::fit(&x, &data.labels, parameters).map_err(|e| TrainError(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let training_time = started.elapsed();
        let mut model = Self {
            trees: forest,
            facts: ModelFacts {
                kind: "random_forest",
                library: "smartcore",
                trees,
                features: FEATURES,
                classes: CLASSES,
                training_samples: data.len(),
                training_seed: seed,
                training_time_ms: ms(training_time),
                training_accuracy: 0.0,
            },
        };
        model.facts.training_accuracy = model.accuracy(data)?;
        Ok(model)
    }

    pub fn facts(&self) -> &ModelFacts {
        &self.facts
    }

    /// The class of one sample, and the share of trees that voted for it.
    pub fn predict(&self, features: &[f64; FEATURES]) -> Prediction {
        // A one-row matrix of the right width always builds; a failure would be a bug.
        let x = matrix(std::slice::from_ref(features)).expect("one row of FEATURES numbers");
        let mut votes = [0u32; CLASSES];
        for tree in &self.trees {
            let class = tree
                .predict(&x)
                .ok()
                .and_then(|y| y.first().copied())
                .expect("a fitted tree predicts a well-formed row");
            votes[class as usize % CLASSES] += 1;
        }
        // Ties go to the lower class, as smartcore's own vote does.
        let class = (0..CLASSES).fold(0, |best, c| if votes[c] > votes[best] { c } else { best });
        Prediction {
            class: class as u32,
            probability: f64::from(votes[class]) / self.trees.len().max(1) as f64,
        }
    }

    /// Share of `data` predicted right.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64, TrainError> {
        if data.is_empty() {
            return Ok(0.0);
        }
        let right = data
            .rows
            .iter()
            .zip(&data.labels)
            .filter(|(row, label)| self.predict(row).class == **label)
            .count();
        Ok(right as f64 / data.len() as f64)
    }
}

fn matrix(rows: &[[f64; FEATURES]]) -> Result<DenseMatrix<f64>, TrainError> {
    let values: Vec<f64> = rows.iter().flatten().copied().collect();
    DenseMatrix::new(rows.len(), FEATURES, values, false).map_err(|e| TrainError(e.to_string()))
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e5).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::dataset::SEED;

    fn trained() -> (Dataset, Model) {
        let data = Dataset::synthetic(SEED);
        let model = Model::train(&data, TREES, SEED).unwrap();
        (data, model)
    }

    #[test]
    fn the_forest_predicts_its_training_set_well_above_chance() {
        let (_, model) = trained();
        let facts = model.facts();
        assert!(facts.training_accuracy > 0.8, "{facts:?}");
        assert_eq!(
            (facts.trees, facts.features, facts.training_samples),
            (50, 20, 1000)
        );
        assert!(facts.training_time_ms > 0.0);
    }

    #[test]
    fn it_generalises_to_samples_it_did_not_see() {
        let (train, test) = Dataset::synthetic(SEED).split_at(800);
        let model = Model::train(&train, TREES, SEED).unwrap();
        let accuracy = model.accuracy(&test).unwrap();
        assert!(accuracy > 0.7, "held-out accuracy {accuracy}");
    }

    #[test]
    fn training_is_deterministic_with_the_fixed_seed() {
        let (data, first) = trained();
        let second = Model::train(&data, TREES, SEED).unwrap();
        for row in data.rows.iter().take(200) {
            assert_eq!(first.predict(row), second.predict(row));
        }
        assert_eq!(
            first.facts().training_accuracy,
            second.facts().training_accuracy
        );
    }

    #[test]
    fn a_prediction_is_a_class_with_the_majority_share_of_votes() {
        let (data, model) = trained();
        for row in data.rows.iter().take(50) {
            let p = model.predict(row);
            assert!(p.class < 2);
            assert!((0.5..=1.0).contains(&p.probability), "{p:?}");
        }
        // The seed's clients send uniform numbers in -1..1: any finite row is answered.
        let p = model.predict(&[0.25; FEATURES]);
        assert!(p.class < 2 && p.probability >= 0.5);
        let p = model.predict(&[1e300; FEATURES]);
        assert!(p.class < 2 && p.probability >= 0.5);
    }
}
