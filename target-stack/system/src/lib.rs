//! The system under test: the ANB Rising Stars video API, its video worker, and the
//! backends they run on (embedded: SQLite, a directory, a durable local queue; AWS:
//! PostgreSQL, S3, SQS); and seed 000's ML inference service ([`inference`]), a second
//! system under test that the local stack and the AWS template can run instead.
//!
//! The binary in `main.rs` is a thin shell over [`cli::run`]. Everything here knows nothing
//! about how it is measured: aforo's load generator and analyzer talk to it only over HTTP
//! and through the queue and storage it is configured with.

pub mod api;
pub mod auth;
pub mod backends;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod hosting;
pub mod inference;
pub mod inject;
pub mod queue;
pub mod storage;
pub mod telemetry;
pub mod worker;

pub use backends::Backends;
pub use config::Settings;
