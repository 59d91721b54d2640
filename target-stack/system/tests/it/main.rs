//! target-stack's integration tests: one binary (faster to link than one per file), one
//! module per area, shared fixtures in `helpers`.

mod helpers;

mod api;
mod backends;
mod contract;
mod inference;
mod inject;
mod limits;
mod stack;
mod user_data;
mod worker;
