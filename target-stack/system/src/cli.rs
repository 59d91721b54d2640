//! The command line: parses argv once, loads settings, and runs one role.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::Backends;
use crate::api::{self, AppState};
use crate::auth::{Tokens, resolve_secret};
use crate::config::{Settings, SlowFraction};
use crate::worker::Worker;

/// The ANB video API and its worker: aforo's system under test.
///
/// Configuration comes from environment variables (see target-stack/README.md); with none
/// set, everything runs embedded under ./anb-data.
#[derive(Debug, Parser)]
#[command(name = "target-stack", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Api {
        /// Address to listen on (overrides ANB_BIND; port 0 picks a free port).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Seed 000's ML inference service: trains a random forest at start, then serves
    /// /health, /info, /predict, /load-test and /metrics (target-stack/README.md).
    Inference {
        /// Address to listen on (overrides ANB_BIND; port 0 picks a free port).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Share of /predict requests that sleep 0.5–2 s, as seed 000's app does with 0.1
        /// (overrides ANB_INFERENCE_SLOW_FRACTION; default 0, off).
        #[arg(long, value_parser = parse_slow_fraction)]
        slow_fraction: Option<SlowFraction>,
    },
    /// Process videos from the queue.
    Worker {
        /// Tasks processed at once (overrides ANB_WORKER_CONCURRENCY).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// The API and a worker in one process: the quickest way to try the system.
    Standalone {
        #[arg(long)]
        bind: Option<SocketAddr>,
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// The local stack: a load balancer over an autoscaled web group and worker group, with
    /// CloudWatch-shaped telemetry. Runs until Ctrl-C or SIGTERM.
    Up {
        /// A stack.toml; each section it names replaces the default one (see
        /// target-stack/policy/src/default-stack.toml).
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// The load balancer's address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// What the web group runs (overrides the file's `app`): anb (the API, and a worker
        /// group) or inference (seed 000's service, no worker group).
        #[arg(long)]
        app: Option<local_cloud::config::App>,
        /// Where metrics.csv and activities.jsonl are written.
        #[arg(long, default_value = "stack-telemetry")]
        telemetry: std::path::PathBuf,
    },
    /// The running stack's figures of the last second (needs `up` with the same ANB_DATA_DIR).
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set a group's desired capacity on the running stack, as SetDesiredCapacity does.
    Scale {
        /// web or worker.
        group: String,
        capacity: u32,
    },
    /// Fault rehearsal on the running stack.
    Chaos {
        #[command(subcommand)]
        action: ChaosAction,
    },
    /// Queue synthetic video tasks straight into the queue (bypassing the API): a quick
    /// stress of the worker group. Uses the same backends as the stack (ANB_* settings).
    Enqueue {
        /// How many tasks.
        count: usize,
        /// Size of the video each task processes (e.g. 2MB, 50MB): generated once with
        /// ffmpeg at a realistic bitrate and cached under $ANB_DATA_DIR/payloads.
        #[arg(long, default_value = "2MB", value_parser = rundir::parse_size)]
        size: u64,
        /// Process this video instead of a generated one.
        #[arg(long, conflicts_with = "size")]
        video: Option<std::path::PathBuf>,
    },
    /// Scenario 2's driver (used by `loadgen run scenario2`): JSON-line requests on stdin
    /// (prepare a video, enqueue tasks, queue depth, task runs), one reply line each on
    /// stdout. Uses the same backends as the stack (ANB_* settings).
    Inject {
        /// Where generated videos are cached.
        #[arg(long)]
        cache: Option<std::path::PathBuf>,
    },
    /// Live dashboard of the running stack (needs `up` with the same ANB_DATA_DIR); q quits.
    Dashboard,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document of the API.
    Openapi,
    /// Render one video exactly as the worker does (trim, logo, bumpers; ANB_FFMPEG,
    /// ANB_MAX_CLIP_SECS and ANB_BUMPER_SECS apply) and say how long it took.
    Render {
        input: std::path::PathBuf,
        output: std::path::PathBuf,
        /// Print the ffmpeg command instead (the logo it needs is written beside OUTPUT), to
        /// time the bare command against the worker.
        #[arg(long)]
        print_command: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ChaosAction {
    /// SIGKILL one instance of a group; the group replaces it.
    Kill {
        #[arg(long)]
        group: String,
    },
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        use utoipa::OpenApi;
        println!("{}", api::openapi::ApiDoc::openapi().to_pretty_json()?);
        return Ok(());
    }
    let mut settings = Settings::from_env().context("invalid configuration")?;
    match cli.command {
        Command::Render {
            input,
            output,
            print_command,
        } => render(&settings, &input, &output, print_command).await,
        Command::Api { bind } => {
            settings.api.bind = bind.unwrap_or(settings.api.bind);
            let backends = Backends::connect(&settings).await?;
            serve_api(&settings, backends, shutdown_signal()).await
        }
        Command::Inference {
            bind,
            slow_fraction,
        } => {
            settings.api.bind = bind.unwrap_or(settings.api.bind);
            if let Some(fraction) = slow_fraction {
                settings.inference.slow_fraction = fraction;
            }
            serve_inference(&settings, shutdown_signal()).await
        }
        Command::Worker { concurrency } => {
            settings.worker.concurrency = concurrency.unwrap_or(settings.worker.concurrency).max(1);
            let backends = Backends::connect(&settings).await?;
            let worker = Arc::new(Worker::new(backends, &settings).await?);
            worker.run(shutdown_signal()).await
        }
        Command::Standalone { bind, concurrency } => {
            settings.api.bind = bind.unwrap_or(settings.api.bind);
            settings.worker.concurrency = concurrency.unwrap_or(settings.worker.concurrency).max(1);
            let backends = Backends::connect(&settings).await?;
            let worker = Arc::new(Worker::new(backends.clone(), &settings).await?);
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let wait = move || {
                let mut stopped = stopped.clone();
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                }
            };
            let worker_task = tokio::spawn(worker.run(wait()));
            let api = serve_api(&settings, backends, wait());
            let (api_result, _) = tokio::join!(api, async {
                shutdown_signal().await;
                let _ = stop.send(true);
            });
            api_result?;
            worker_task.await.context("the worker task panicked")?
        }
        Command::Up {
            config,
            bind,
            app,
            telemetry,
        } => {
            let mut config = local_cloud::config::StackConfig::load(config.as_deref())?;
            if let Some(app) = app {
                config.app = app;
            }
            let placement = crate::hosting::Placement {
                binary: std::env::current_exe()
                    .context("cannot find this binary to run instances")?,
                telemetry_dir: telemetry,
                bind,
            };
            let stack = crate::hosting::up(config, placement, &settings).await?;
            println!("listening on {}", stack.url);
            println!("telemetry in {}", stack.telemetry_dir.display());
            shutdown_signal().await;
            stack.stop().await
        }
        Command::Status { json } => {
            let stack = local_cloud::control::find(&settings.data_dir)?;
            let body =
                local_cloud::control::call("GET", &format!("{}/status", stack.control)).await?;
            if json {
                println!("{body}");
            } else {
                let status: local_cloud::control::StackStatus = serde_json::from_str(&body)?;
                print!("{}", render_status(&status, &stack.balancer));
            }
            Ok(())
        }
        Command::Scale { group, capacity } => {
            let stack = local_cloud::control::find(&settings.data_dir)?;
            let url = format!("{}/groups/{group}/desired/{capacity}", stack.control);
            println!("{}", local_cloud::control::call("POST", &url).await?);
            Ok(())
        }
        Command::Chaos {
            action: ChaosAction::Kill { group },
        } => {
            let stack = local_cloud::control::find(&settings.data_dir)?;
            let url = format!("{}/groups/{group}/kill", stack.control);
            println!("{}", local_cloud::control::call("POST", &url).await?);
            Ok(())
        }
        Command::Enqueue { count, size, video } => {
            let backends = Backends::connect(&settings).await?;
            let video = match video {
                Some(video) => video,
                None => {
                    let cache = settings.data_dir.join("payloads");
                    eprintln!(
                        "preparing a {size}-byte video (cached in {})",
                        cache.display()
                    );
                    crate::inject::cached_video(&settings.worker.ffmpeg, size, &cache).await?
                }
            };
            let injector = crate::inject::Injector::new(backends).await?;
            let payload = injector.upload(&video).await?;
            let started = std::time::Instant::now();
            let tasks = injector.enqueue(&payload, count).await?;
            println!(
                "queued {} task(s) of {} bytes in {:.2} s (first {}, last {})",
                tasks.len(),
                payload.bytes,
                started.elapsed().as_secs_f64(),
                tasks.first().map_or("-", |t| t.task_id.as_str()),
                tasks.last().map_or("-", |t| t.task_id.as_str()),
            );
            Ok(())
        }
        Command::Inject { cache } => {
            let backends = Backends::connect(&settings).await?;
            let cache = cache.unwrap_or_else(|| settings.data_dir.join("payloads"));
            crate::inject::serve_protocol(
                backends,
                settings.worker.ffmpeg.clone(),
                cache,
                tokio::io::BufReader::new(async_std_stream(std::io::stdin().as_fd())?),
                async_std_stream(std::io::stdout().as_fd())?,
            )
            .await
        }
        Command::Dashboard => {
            let stack = local_cloud::control::find(&settings.data_dir)?;
            local_cloud::dashboard::run(&stack).await
        }
        Command::Migrate => {
            // Backends::connect migrates; connecting is the whole job.
            Backends::connect(&settings).await?;
            println!("migrations applied to {}", settings.database);
            Ok(())
        }
        Command::Openapi => unreachable!("handled above"),
    }
}

/// A standard stream as an async file (tokio's io-std feature would rebuild every crate
/// that uses tokio for this one command).
fn async_std_stream(fd: std::os::fd::BorrowedFd<'_>) -> anyhow::Result<tokio::fs::File> {
    let owned = fd.try_clone_to_owned()?;
    Ok(tokio::fs::File::from_std(std::fs::File::from(owned)))
}

fn render_status(status: &local_cloud::control::StackStatus, balancer: &str) -> String {
    let mut out = format!(
        "balancer {balancer}: {} requests in the last second, {} healthy / {} unhealthy targets\n",
        status.balancer.requests, status.balancer.healthy_hosts, status.balancer.unhealthy_hosts
    );
    out.push_str(&format!(
        "{:<8} {:>4} {:>4} {:>7} {:>10} {:>7} {:>11} {:>6}\n",
        "group", "min", "max", "desired", "in service", "pending", "terminating", "cpu %"
    ));
    for g in &status.groups {
        let cpu = g.cpu_average.map_or("-".to_string(), |c| format!("{c:.0}"));
        out.push_str(&format!(
            "{:<8} {:>4} {:>4} {:>7} {:>10} {:>7} {:>11} {:>6}\n",
            g.name, g.min, g.max, g.desired, g.in_service, g.pending, g.terminating, cpu
        ));
    }
    out.push_str(&match &status.queue {
        Some(q) => format!(
            "queue: {} visible, {} in flight\n",
            q.visible, q.not_visible
        ),
        None => "queue: none (the inference app has none, or its depth is unknown)\n".into(),
    });
    for decision in &status.last_decisions {
        out.push_str(&format!("  {decision}\n"));
    }
    out
}

async fn serve_api(
    settings: &Settings,
    backends: Backends,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tokens = Tokens::new(&resolve_secret(settings)?, settings.auth.token_ttl);
    let state = AppState::new(backends, tokens, &settings.api);
    let listener = listen(settings.api.bind, "API").await?;
    api::serve(listener, state, shutdown).await?;
    tracing::info!("API stopped");
    Ok(())
}

/// Binds `bind` and says where it listens.
async fn listen(bind: SocketAddr, service: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let address = listener.local_addr()?;
    // A machine-readable line on stdout: whoever started us (the local stack) learns the port.
    println!("listening on http://{address}");
    tracing::info!(%address, "{service} listening");
    Ok(listener)
}

fn parse_slow_fraction(raw: &str) -> Result<SlowFraction, String> {
    raw.parse()
}

/// Trains seed 000's model, then serves it until `shutdown`.
async fn serve_inference(
    settings: &Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let model = tokio::task::spawn_blocking(crate::inference::train)
        .await
        .context("training panicked")??;
    let facts = model.facts();
    tracing::info!(
        trees = facts.trees,
        samples = facts.training_samples,
        training_time_ms = facts.training_time_ms,
        training_accuracy = facts.training_accuracy,
        "model trained"
    );
    let state = crate::inference::InferenceState::new(
        Arc::new(model),
        &settings.worker.instance_id,
        settings.inference.slow_fraction,
    );
    let listener = listen(settings.api.bind, "inference service").await?;
    crate::inference::serve(
        listener,
        state,
        settings.api.limits.header_read_timeout,
        shutdown,
    )
    .await?;
    tracing::info!("inference service stopped");
    Ok(())
}

/// Resolves on SIGTERM (how a load balancer, systemd or an Auto Scaling group stops us) or
/// Ctrl-C.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("cannot install the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received"),
    }
}

async fn render(
    settings: &Settings,
    input: &std::path::Path,
    output: &std::path::Path,
    print_command: bool,
) -> anyhow::Result<()> {
    if print_command {
        let logo = output.with_file_name("aforo-logo.pam");
        std::fs::write(&logo, crate::worker::logo_pam())
            .with_context(|| format!("cannot write {}", logo.display()))?;
        let args = crate::worker::pipeline::arguments(
            input,
            output,
            &logo,
            settings.worker.max_clip,
            settings.worker.bumper,
        );
        let quoted: Vec<String> = std::iter::once(settings.worker.ffmpeg.as_os_str())
            .chain(args.iter().map(|a| a.as_os_str()))
            .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
            .collect();
        println!("{}", quoted.join(" "));
        return Ok(());
    }
    let pipeline = crate::worker::Pipeline::new(&settings.worker).await?;
    let started = std::time::Instant::now();
    pipeline.render(input, output).await?;
    eprintln!(
        "rendered {} in {:.2} s",
        output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
