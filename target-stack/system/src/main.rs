//! `target-stack`: the ANB video API, its worker, and migrations, in one binary.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    target_stack::telemetry::init();
    match target_stack::cli::run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole cause chain on one line: the user sees what failed and why.
            eprintln!("target-stack: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
