//! loadgen's integration tests: the real binary against the real local target and against
//! calibration servers of known behaviour. One binary, one module per area.

mod helpers;

mod accuracy;
mod attribution;
mod faults;
mod file_scenarios;
mod runs;
mod tls;
mod truth;
mod worker_path;
