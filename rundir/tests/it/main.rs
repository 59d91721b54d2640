//! rundir's integration tests, one binary: reference logs from other tools, round trips
//! through the files, golden JSON, corrupt input and the directory layout; and the
//! workspace's dependency rules, checked here at the bottom of the graph.

mod corrupt;
mod dependency_rules;
mod examples;
mod golden;
mod hlog_roundtrip;
mod layout;
mod reference_logs;

use std::path::PathBuf;

/// `rundir/tests/data`: the only place tests read fixtures from.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn data(name: &str) -> Vec<u8> {
    let path = data_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
