//! aforo's analyzer: reads run directories and server-side telemetry and computes the
//! capacity model. The models themselves are pure and live in the `capacity-model` crate
//! (`capacity-model/`), which the load generator uses too without the analyzer's I/O.

pub mod analysis;
pub mod aws;
pub mod cli;
pub mod cost;
pub mod gate;
pub mod reactions;
pub mod runs;
pub mod simulate;
pub mod stages;
pub mod summary;
pub mod timeline;
pub mod usl_csv;

pub use capacity_model as model;
