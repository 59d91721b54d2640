//! The command line. `analyze usl FILE.csv` is built; the run analysis (`analyze --since`,
//! `analyze report`, `analyze gate`) is tracked by the analyzer issue and says so.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::model::{UslFit, UslSummary};

/// Turns run directories and server telemetry into a capacity model.
#[derive(Debug, Parser)]
#[command(name = "analyze", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fit the Universal Scalability Law to measured throughput (CSV with the columns
    /// concurrency and throughput, from aforo or any other tool).
    Usl {
        file: PathBuf,
        /// Print the fit as JSON (analysis.json's `usl` object).
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Some(Command::Usl { file, json }) => match usl(&file, json) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("analyze: {e:#}");
                ExitCode::from(1)
            }
        },
        None => {
            eprintln!(
                "analyze: the analysis of run directories (--since, --run, report, gate) is not \
                 built yet; `analyze usl FILE.csv` is"
            );
            ExitCode::from(2)
        }
    }
}

fn usl(file: &std::path::Path, json: bool) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let points = crate::usl_csv::read_points(&text, file)?;
    let fit = UslFit::fit(&points)?;
    let summary = fit.summary();
    Ok(if json {
        format!("{}\n", serde_json::to_string_pretty(&summary)?)
    } else {
        render(&summary, &fit)
    })
}

fn render(s: &UslSummary, fit: &UslFit) -> String {
    let mut out = format!(
        "Universal Scalability Law fit of {} points (R² {:.4}, RMSE {:.4}):\n  \
         σ (contention) {:.6}\n  κ (coherency)  {:.6e}\n  λ (one unit)   {:.4}\n",
        s.points, s.r_squared, s.rmse, s.sigma, s.kappa, s.lambda
    );
    match (s.peak_concurrency, s.max_throughput) {
        (Some(peak), Some(max)) => out.push_str(&format!(
            "  peak at concurrency {peak}: predicted throughput {max:.4} (a projection of the fit)\n"
        )),
        _ => out.push_str(&format!(
            "  no peak (κ ≤ 0): throughput flattens towards λ/σ = {:.4} (a projection)\n",
            fit.lambda() / fit.sigma().max(f64::MIN_POSITIVE)
        )),
    }
    out.push_str(if s.contention_constrained {
        "  limited mostly by contention (σ > κ): queueing on a shared resource\n"
    } else if s.coherency_constrained {
        "  limited mostly by coherency (κ > σ): crosstalk between workers\n"
    } else {
        "  neither contention nor coherency dominates\n"
    });
    out
}
