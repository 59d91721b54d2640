//! `loadgen`: runs the capacity scenarios against a target. Not built yet.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "loadgen: not built yet. The load generator is tracked by the loadgen issue; \
         until it lands, start the system under test with `target-stack api` and `target-stack worker`."
    );
    ExitCode::from(2)
}
