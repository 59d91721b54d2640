//! `analyze`: turns run directories and server telemetry into a capacity model. Not built yet.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "analyze: not built yet. The analyzer is tracked by the analyzer issue; \
         there are no run directories to analyse until loadgen lands."
    );
    ExitCode::from(2)
}
