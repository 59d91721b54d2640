//! The command line: `analyze [--since 1h | --run ID…]` (the capacity model, written to
//! `analysis.json` and summarised), `analyze gate` (SLOs and regressions, JUnit XML) and
//! `analyze report` (the markdown capacity report with charts, through `reports`) and
//! `analyze usl FILE.csv` (the scalability fit alone).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::analysis::{Note, Settings, analyze};
use crate::model::{Slo, UslFit, UslSummary};
use crate::runs::Selection;

/// Turns run directories and server telemetry into a capacity model.
#[derive(Debug, Parser)]
#[command(name = "analyze", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

#[derive(Debug, Args)]
struct AnalysisArgs {
    /// Analyse the runs that overlap this window ending now (e.g. 30m, 1h, 2h30m); the
    /// default is 1h.
    #[arg(long, value_parser = rundir::parse_duration, conflicts_with = "runs")]
    since: Option<Duration>,
    /// Analyse these runs (repeatable).
    #[arg(long = "run", value_name = "ID")]
    runs: Vec<String>,
    /// Where the run directories are: a directory, or s3://BUCKET/PREFIX where a fleet's
    /// generators uploaded theirs (downloaded into `runs` of aforo's cache: AFORO_CACHE_DIR, else
    /// $XDG_CACHE_HOME/aforo or ~/.cache/aforo).
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Where to write the analysis [default: RUNS_DIR/analysis.json].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The SLO's p95, on every endpoint.
    #[arg(long, default_value = "1s", value_parser = rundir::parse_duration)]
    slo_p95: Duration,
    /// The SLO's highest error share (5% or 0.05).
    #[arg(long, default_value = "5%", value_parser = rundir::parse_percent)]
    slo_errors: f64,
    /// Scenario 2: the mean queue wait to size the worker pool for (Erlang C).
    #[arg(long, default_value = "60s", value_parser = rundir::parse_duration)]
    target_wait: Duration,
    /// Scenario 2: the arrival rate to size for (e.g. 12/min) [default: each cell's X].
    #[arg(long, value_parser = rundir::parse_rate)]
    arrival_rate: Option<f64>,
    /// Print analysis.json instead of the summary.
    #[arg(long)]
    json: bool,
    /// The price table for the cost and energy estimates [default: the one aforo ships,
    /// analyzer/data/aws-prices.toml: us-east-1 on demand, with its source and date].
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
    /// Never call AWS: analyse AWS runs with the telemetry already saved beside them.
    #[arg(long, conflicts_with = "refetch")]
    offline: bool,
    /// Fetch AWS runs' telemetry again even when it is saved beside them.
    #[arg(long)]
    refetch: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

impl AnalysisArgs {
    /// The SLO the knee is judged under.
    fn slo(&self) -> Slo {
        Slo {
            p95_ms: rundir::millis(self.slo_p95),
            max_error_ratio: self.slo_errors,
        }
    }
}

/// Names of an AWS deployment, for runs whose manifest lacks them (e.g. `--host` runs).
#[derive(Debug, Clone, Args)]
struct AwsArgs {
    /// A deployed aforo.yaml stack (target-stack/infra): its outputs give the region and
    /// every name below.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["load_balancer", "target_groups", "autoscaling_groups", "queue_urls", "db_instances", "offline"])]
    aws_stack: Option<String>,
    /// The AWS region of the deployment (with it, runs against an external host are
    /// treated as AWS runs with the names below).
    #[arg(long)]
    aws_region: Option<String>,
    /// The ALB, as CloudWatch's LoadBalancer dimension (app/NAME/ID).
    #[arg(long)]
    load_balancer: Option<String>,
    /// A target group, as CloudWatch's TargetGroup dimension (targetgroup/NAME/ID).
    #[arg(long = "target-group")]
    target_groups: Vec<String>,
    /// An Auto Scaling group name (repeatable).
    #[arg(long = "asg")]
    autoscaling_groups: Vec<String>,
    /// An SQS queue URL (repeatable).
    #[arg(long = "queue-url")]
    queue_urls: Vec<String>,
    /// An RDS DBInstanceIdentifier (repeatable).
    #[arg(long = "db-instance")]
    db_instances: Vec<String>,
}

impl AwsArgs {
    /// `--aws-stack`'s outputs in place of the names given one by one.
    fn resolved(&self) -> anyhow::Result<AwsArgs> {
        let Some(stack) = &self.aws_stack else {
            return Ok(self.clone());
        };
        let targets = runtime()?.block_on(infra::StackTargets::resolve(
            stack,
            self.aws_region.as_deref(),
        ))?;
        Ok(AwsArgs {
            aws_stack: None,
            aws_region: Some(targets.region.clone()),
            load_balancer: Some(targets.load_balancer.clone()),
            target_groups: targets.target_groups.clone(),
            autoscaling_groups: targets.autoscaling_groups(),
            queue_urls: targets.queue_urls(),
            db_instances: targets.db_instances(),
        })
    }

    /// The run's AWS names: the manifest's, with any given here in their place.
    fn resources(&self, stack: &rundir::StackKind) -> Option<crate::aws::Resources> {
        let mut r = match (crate::aws::Resources::from_stack(stack), &self.aws_region) {
            (Some(r), _) => r,
            (None, Some(region)) if matches!(stack, rundir::StackKind::External) => {
                crate::aws::Resources {
                    region: region.clone(),
                    ..Default::default()
                }
            }
            _ => return None,
        };
        if let Some(region) = &self.aws_region {
            r.region = region.clone();
        }
        if self.load_balancer.is_some() {
            r.load_balancer = self.load_balancer.clone();
        }
        for (given, field) in [
            (&self.target_groups, &mut r.target_groups),
            (&self.autoscaling_groups, &mut r.autoscaling_groups),
            (&self.queue_urls, &mut r.queue_urls),
            (&self.db_instances, &mut r.db_instances),
        ] {
            if !given.is_empty() {
                *field = given.clone();
            }
        }
        Some(r)
    }
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
    /// Check an analysis against SLOs (and a baseline); exits 1 when a check fails.
    Gate {
        /// The SLO file (TOML: p95, errors, min_rps_within_slo, max_failed_tasks,
        /// [endpoints.NAME], [regression]; see docs/analysis.md).
        #[arg(long)]
        slo: PathBuf,
        /// The analysis to check.
        #[arg(long, default_value = "runs/analysis.json")]
        analysis: PathBuf,
        /// An earlier analysis to compare with (p95 and capacity regressions).
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Write the verdicts as JUnit XML here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Render the capacity report: markdown with charts (PNG and SVG), from an analysis.
    Report {
        /// The analysis to render.
        #[arg(long, default_value = "runs/analysis.json")]
        analysis: PathBuf,
        /// Where the report and its charts/ go.
        #[arg(long, default_value = "capacity-planning")]
        out: PathBuf,
        /// The report's language: the built-in template's, the charts' and the numbers'
        /// (decimal comma in es). A template of your own is written in one of them.
        #[arg(long, default_value = "es", value_parser = ["es", "en"])]
        lang: String,
        /// A template name instead of the built-in one: NAME.md.j2 in --template-dir.
        #[arg(long)]
        template: Option<String>,
        /// A directory of your own templates (searched before the built-ins).
        #[arg(long)]
        template_dir: Option<PathBuf>,
        /// The markdown file's name [default: pruebas_de_carga_entrega4.md for es,
        /// capacity-report.md for en].
        #[arg(long)]
        name: Option<String>,
        /// An earlier analysis to compare with.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// The report's title, instead of the template's ("Pruebas de carga y análisis de
        /// capacidad — Entrega 4" in es).
        #[arg(long)]
        title: Option<String>,
    },
    /// Price an analysis again (another price table, another date, or an analysis written
    /// before cost estimates): rewrites its cost and energy section in place.
    Reprice {
        /// The analysis to price.
        #[arg(long, default_value = "runs/analysis.json")]
        analysis: PathBuf,
        /// The price table [default: analyzer/data/aws-prices.toml].
        #[arg(long, value_name = "FILE")]
        prices: Option<PathBuf>,
    },
    /// Replay a run's measured web demand through other scaling policies (stack.toml files,
    /// or `default` for the local stack's defaults): instances, instance-hours, scale-outs
    /// and time above the measured capacity, per policy. A model; it says so and from what.
    Simulate {
        /// The analysis whose run is replayed.
        #[arg(long, default_value = "runs/analysis.json")]
        analysis: PathBuf,
        /// A stack.toml whose [web] (or [worker]) group is replayed, or `default`; repeat to
        /// compare.
        #[arg(long = "policy", value_name = "STACK.toml", required = true)]
        policies: Vec<String>,
        /// The run to replay: a run with requests replays the web group, a run with tasks
        /// the worker group; the first such run when absent.
        #[arg(long)]
        run: Option<String>,
        /// The group to replay, when --run does not say: the first run whose demand reached
        /// it is replayed.
        #[arg(long, value_enum)]
        group: Option<crate::simulate::Tier>,
        /// Print the simulation as JSON.
        #[arg(long)]
        json: bool,
        /// The price table for the instances' cost [default: analyzer/data/aws-prices.toml].
        #[arg(long, value_name = "FILE")]
        prices: Option<PathBuf>,
    },
}

/// Prints the result of a command, or its error, and turns it into an exit code.
fn finish(result: anyhow::Result<(String, bool)>) -> ExitCode {
    match result {
        Ok((text, passed)) => {
            print!("{text}");
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("analyze: {e:#}");
            ExitCode::from(2)
        }
    }
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
        Some(Command::Usl { file, json }) => finish(usl(&file, json).map(|t| (t, true))),
        Some(Command::Reprice { analysis, prices }) => {
            finish(reprice(&analysis, prices.as_deref()).map(|text| (text, true)))
        }
        Some(Command::Simulate {
            analysis,
            policies,
            run,
            group,
            json,
            prices,
        }) => finish(
            crate::simulate::run(
                &analysis,
                &policies,
                run.as_deref(),
                group,
                prices.as_deref(),
            )
            .and_then(|simulation| {
                let text = if json {
                    serde_json::to_string_pretty(&simulation)? + "\n"
                } else {
                    crate::simulate::render(&simulation)
                };
                Ok((text, true))
            }),
        ),
        Some(Command::Gate {
            slo,
            analysis,
            baseline,
            junit,
        }) => finish(gate(&slo, &analysis, baseline.as_deref(), junit.as_deref())),
        Some(Command::Report {
            analysis,
            out,
            lang,
            template,
            template_dir,
            name,
            baseline,
            title,
        }) => {
            let report_lang = reports::Lang::parse(&lang).expect("clap accepts es and en only");
            finish(
                report(
                    &analysis,
                    reports::Options {
                        template: template.unwrap_or_else(|| lang.clone()),
                        lang: report_lang,
                        template_dir,
                        out_dir: out,
                        file_name: name.unwrap_or_else(|| report_lang.report_file_name().into()),
                        title,
                    },
                    baseline.as_deref(),
                )
                .map(|t| (t, true)),
            )
        }
        None => finish(run_analysis(&cli.analysis).map(|t| (t, true))),
    }
}

/// `--runs-dir s3://BUCKET/PREFIX`: the runs a fleet uploaded, downloaded into the cache
/// (only files not there yet); a local directory is returned as it is.
fn local_runs_dir(given: &std::path::Path) -> anyhow::Result<PathBuf> {
    let Some(url) = given.to_str().filter(|s| s.starts_with("s3://")) else {
        return Ok(given.to_path_buf());
    };
    let location = infra::RunsLocation::parse(url)?;
    let cache = rundir::cache_dir(|name| std::env::var_os(name))
        .join("runs")
        .join(url.trim_start_matches("s3://").trim_end_matches('/'));
    let runs = runtime()?.block_on(location.download_runs(&cache))?;
    eprintln!(
        "{} run directories from {} in {}",
        runs.len(),
        location.url(),
        cache.display()
    );
    Ok(cache)
}

/// For the AWS calls, made one at a time from this synchronous CLI.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for the AWS calls")
}

fn run_analysis(args: &AnalysisArgs) -> anyhow::Result<String> {
    let prices = crate::cost::read_prices(args.prices.as_deref())?;
    let selection = if args.runs.is_empty() {
        Selection::Since(args.since.unwrap_or(Duration::from_secs(3600)))
    } else {
        Selection::Runs(args.runs.clone())
    };
    let now = time::OffsetDateTime::now_utc();
    let runs_dir = local_runs_dir(&args.runs_dir)?;
    let selected = crate::runs::select(&runs_dir, &selection, now)?;
    let mut skipped = Vec::new();
    for (path, error) in &selected.unreadable {
        skipped.push(Note::SkippedRun {
            path: path.display().to_string(),
            error: error.to_string(),
        });
    }
    let mut runs = Vec::new();
    let mut unloadable = Vec::new();
    for (dir, manifest) in selected.runs {
        let path = dir.path().to_path_buf();
        match crate::runs::load(dir, manifest) {
            Ok(run) => runs.push(run),
            // A window may hold a run killed before it measured anything, or one damaged
            // since: the others are still analysed, and the note says which was left out.
            // A run asked for by name must load.
            Err(error) if matches!(selection, Selection::Since(_)) => {
                unloadable.push((path, error));
            }
            Err(error) => return Err(error.into()),
        }
    }
    if runs.is_empty() && !unloadable.is_empty() {
        // Nothing left to analyse: the reason is the answer.
        return Err(unloadable.swap_remove(0).1.into());
    }
    for (path, error) in unloadable {
        skipped.push(Note::SkippedRun {
            path: path.display().to_string(),
            error: error.to_string(),
        });
    }
    let (mut runs, fleets) = crate::runs::merge_fleets(runs);
    let mut fetched = Vec::new();
    let aws = args.aws.resolved()?;
    for run in &mut runs {
        let Some(resources) = aws.resources(&run.manifest.target.stack) else {
            continue;
        };
        if args.offline || (!run.metrics.is_empty() && !args.refetch) {
            continue;
        }
        eprintln!(
            "fetching CloudWatch and Auto Scaling telemetry for {} ({})…",
            run.manifest.run_id, resources.region
        );
        let got = runtime()?.block_on(crate::aws::fetch_and_save(run, &resources, now))?;
        fetched.push(Note::Fetched {
            run_id: run.manifest.run_id.to_string(),
            datapoints: got.metric_rows,
            period_s: got.period,
            activities: got.activities,
        });
    }
    let settings = Settings {
        slo: args.slo(),
        target_wait_s: args.target_wait.as_secs_f64(),
        arrival_per_minute: args.arrival_rate.map(|per_s| per_s * 60.0),
    };
    let mut analysis = analyze(&runs, &settings, now);
    analysis.cost = Some(crate::cost::section(&analysis, &prices));
    analysis.notes.extend(skipped);
    analysis.notes.extend(fleets);
    analysis.notes.extend(fetched);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| runs_dir.join("analysis.json"));
    let json = serde_json::to_string_pretty(&analysis)?;
    write_atomically(&out, json.as_bytes())?;
    Ok(if args.json {
        format!("{json}\n")
    } else {
        format!(
            "{}\nwrote {}\n",
            crate::summary::render(&analysis),
            out.display()
        )
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn report(
    analysis: &Path,
    options: reports::Options,
    baseline: Option<&Path>,
) -> anyhow::Result<String> {
    let current = crate::gate::read_analysis(analysis)?;
    let base = baseline.map(crate::gate::read_analysis).transpose()?;
    let written = reports::render(&current, base.as_ref(), &options)?;
    Ok(format!(
        "wrote {} and {} chart files in {}\n",
        written.markdown.display(),
        written.charts.len(),
        options.out_dir.join("charts").display()
    ))
}

fn reprice(path: &Path, prices: Option<&Path>) -> anyhow::Result<String> {
    let table = crate::cost::read_prices(prices)?;
    let mut analysis = crate::gate::read_analysis(path)?;
    analysis.cost = Some(crate::cost::section(&analysis, &table));
    let json = serde_json::to_string_pretty(&analysis)?;
    write_atomically(path, json.as_bytes())?;
    let mut text = String::new();
    if let Some(cost) = &analysis.cost {
        crate::summary::cost_block(&mut text, cost);
    }
    Ok(format!("{}wrote {}\n", text.trim_start(), path.display()))
}

fn gate(
    slo: &Path,
    analysis: &Path,
    baseline: Option<&Path>,
    junit: Option<&Path>,
) -> anyhow::Result<(String, bool)> {
    let rules = crate::gate::Gate::load(slo)?;
    let current = crate::gate::read_analysis(analysis)?;
    let base = baseline.map(crate::gate::read_analysis).transpose()?;
    let checks = crate::gate::run(&rules, &current, base.as_ref());
    if checks.is_empty() {
        anyhow::bail!(
            "{} checks nothing in {}: give p95/errors limits, or analyse runs with traffic",
            slo.display(),
            analysis.display()
        );
    }
    if let Some(path) = junit {
        std::fs::write(path, crate::gate::junit(&checks))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let passed = checks.iter().all(|c| c.passed);
    Ok((crate::gate::render(&checks), passed))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `analyze` without SLO flags judges under the course's SLO, the one loadgen's search
    /// and `Settings::default` use.
    #[test]
    fn the_default_slo_is_the_courses() {
        let cli = Cli::try_parse_from(["analyze"]).expect("no arguments parse");
        assert_eq!(cli.analysis.slo(), Slo::COURSE);
        let cli = Cli::try_parse_from(["analyze", "--slo-p95", "2s", "--slo-errors", "1%"])
            .expect("the SLO flags parse");
        assert_eq!(
            cli.analysis.slo(),
            Slo {
                p95_ms: 2000.0,
                max_error_ratio: 0.01
            }
        );
    }
}
