//! Servers of known behaviour, for calibrating the load generator: a fixed service delay,
//! optional periodic stalls (the whole server freezes, like a GC pause), and the server's
//! own measurement of how long each request took — the truth the recorded latencies are
//! compared with. Used by the accuracy and fault tests and by the overhead benchmark.
//!
//! A deliberately small HTTP/1.1 server on raw tokio sockets (keep-alive, bodies ignored):
//! no framework sits between the socket and the delay being measured.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How the server behaves.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// Added to every request.
    pub delay: Duration,
    /// Every `period`, the server stops answering for `length` (requests wait).
    pub stall: Option<Stall>,
    /// At most this many requests are served at once; the rest queue (a server with a
    /// capacity, whose latency grows with load).
    pub workers: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
pub struct Stall {
    pub period: Duration,
    pub length: Duration,
}

impl Behaviour {
    /// When a request that arrives `since_start` into the server's life is answered,
    /// relative to its arrival.
    pub fn service_time(&self, since_start: Duration) -> Duration {
        let mut wait = Duration::ZERO;
        if let Some(stall) = self.stall {
            let phase =
                Duration::from_nanos((since_start.as_nanos() % stall.period.as_nanos()) as u64);
            if phase < stall.length {
                wait = stall.length - phase;
            }
        }
        wait + self.delay
    }
}

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, world!";

/// A running calibration server.
#[derive(Debug)]
pub struct CalibrationServer {
    pub address: SocketAddr,
    started: Instant,
    truth: Arc<Mutex<Histogram<u64>>>,
    stop: watch::Sender<bool>,
}

impl CalibrationServer {
    /// Starts on a free loopback port, on the current runtime.
    pub async fn start(behaviour: Behaviour) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let started = Instant::now();
        let truth = Arc::new(Mutex::new(Histogram::new(3).expect("valid precision")));
        let (stop, stopped) = watch::channel(false);
        let accept_truth = Arc::clone(&truth);
        let workers = Arc::new(tokio::sync::Semaphore::new(
            behaviour
                .workers
                .unwrap_or(tokio::sync::Semaphore::MAX_PERMITS),
        ));
        let mut accept_stopped = stopped.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = accept_stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((socket, _)) = accepted else { continue };
                        let _ = socket.set_nodelay(true);
                        let truth = Arc::clone(&accept_truth);
                        let stopped = stopped.clone();
                        let workers = Arc::clone(&workers);
                        tokio::spawn(serve(socket, behaviour, started, truth, workers, stopped));
                    }
                }
            }
            // Dropping the listener here refuses new connections.
        });
        Ok(Self {
            address,
            started,
            truth,
            stop,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// The service times the server measured, in microseconds.
    pub fn truth(&self) -> Histogram<u64> {
        self.truth.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops accepting and drops every open connection, as a crashed server would.
    pub fn kill(&self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(
    mut socket: TcpStream,
    behaviour: Behaviour,
    started: Instant,
    truth: Arc<Mutex<Histogram<u64>>>,
    workers: Arc<tokio::sync::Semaphore>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        // Read until a whole request head has arrived.
        let head_end = loop {
            if let Some(end) = find_head_end(&buffer) {
                break end;
            }
            let read = tokio::select! {
                _ = stopped.changed() => return,
                read = socket.read(&mut chunk) => read,
            };
            match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let arrived = Instant::now();
        let body = content_length(&buffer[..head_end]);
        // loadgen's check before a run is answered at once and is not part of the truth.
        let health_check = is_health_check(&buffer[..head_end]);
        // Drop the head and any body that came with it (calibration ignores bodies).
        let consumed = (head_end + body).min(buffer.len());
        buffer.drain(..consumed);
        if health_check {
            if socket.write_all(RESPONSE).await.is_err() {
                return;
            }
            continue;
        }
        let served = async {
            let _worker = workers.acquire().await;
            let began = Instant::now();
            tokio::time::sleep_until((began + behaviour.service_time(began - started)).into())
                .await;
        };
        tokio::select! {
            _ = stopped.changed() => return,
            _ = served => {}
        }
        if socket.write_all(RESPONSE).await.is_err() {
            return;
        }
        let micros = arrived.elapsed().as_micros() as u64;
        let _ = truth
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(micros.max(1));
    }
}

fn is_health_check(head: &[u8]) -> bool {
    let marker = format!("user-agent: {}", crate::run::HEALTH_CHECK_AGENT);
    String::from_utf8_lossy(head)
        .to_ascii_lowercase()
        .lines()
        .any(|line| line.trim_end() == marker)
}

fn find_head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

fn content_length(head: &[u8]) -> usize {
    let head = String::from_utf8_lossy(head);
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Raw Goose, the baseline aforo's generator is held to: one GET of `/` per transaction,
/// Goose's own metrics, `users` users for `seconds` (the benches and `examples/raw_goose.rs`
/// run it).
pub async fn raw_goose(url: &str, users: u64, seconds: u64) -> Result<(), goose::GooseError> {
    use goose::prelude::*;

    async fn get_slash(user: &mut GooseUser) -> TransactionResult {
        let _ = user.get("/").await?;
        Ok(())
    }

    goose::reset_killswitch();
    let plan = format!("{users},0s;{users},{seconds}s;0,0s");
    let config = goose::config::GooseConfiguration::parse_args_default(&[
        "--host",
        url,
        "--test-plan",
        &plan,
        "--quiet",
        "--no-print-metrics",
        "--no-error-summary",
        "--no-telnet",
    ])?;
    GooseAttack::initialize_with_config(config)?
        .register_scenario(scenario!("raw").register_transaction(transaction!(get_slash)))
        .execute()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalls_hold_requests_until_the_stall_ends() {
        let b = Behaviour {
            delay: Duration::from_millis(50),
            stall: Some(Stall {
                period: Duration::from_secs(3),
                length: Duration::from_millis(500),
            }),
            workers: None,
        };
        assert_eq!(
            b.service_time(Duration::from_millis(100)),
            Duration::from_millis(450)
        );
        assert_eq!(
            b.service_time(Duration::from_millis(600)),
            Duration::from_millis(50)
        );
        assert_eq!(
            b.service_time(Duration::from_millis(3200)),
            Duration::from_millis(350)
        );
    }

    #[tokio::test]
    async fn answers_keep_alive_requests_and_measures_itself() {
        let server = CalibrationServer::start(Behaviour {
            delay: Duration::from_millis(20),
            stall: None,
            workers: None,
        })
        .await
        .unwrap();
        let mut socket = TcpStream::connect(server.address).await.unwrap();
        for _ in 0..3 {
            socket
                .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let mut answer = vec![0u8; RESPONSE.len()];
            socket.read_exact(&mut answer).await.unwrap();
            assert_eq!(answer, RESPONSE);
        }
        let truth = server.truth();
        assert_eq!(truth.len(), 3);
        assert!(truth.min() >= 20_000, "{}", truth.min());
        server.kill();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            TcpStream::connect(server.address).await.is_err(),
            "killed servers refuse"
        );
    }
}
