//! The local stack's load balancer (`local_cloud::lb`) against small in-test HTTP servers standing in
//! for API instances: their `/health` can be switched between 200 and 503, their handlers
//! can be slow, stream large bodies, echo what they received, and they can be killed (their
//! listener and every connection dropped, like a process that died). Health checks run every
//! 100 ms so that ALB's minutes become fractions of a second; bounds on timings leave slack
//! for a loaded two-core machine.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use local_cloud::lb::{Algorithm, LbConfig, LoadBalancer, TargetState};
use reqwest::Client;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

const INTERVAL: Duration = Duration::from_millis(100);
const CHECK_TIMEOUT: Duration = Duration::from_millis(80);
/// Allowance for scheduling on a busy machine, added to every "within" bound.
const SLACK: Duration = Duration::from_millis(400);
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Fixtures

fn config(algorithm: Algorithm) -> LbConfig {
    LbConfig {
        algorithm,
        health_path: "/health".into(),
        interval: INTERVAL,
        timeout: CHECK_TIMEOUT,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        deregistration_delay: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
    }
}

async fn balancer(config: LbConfig) -> LoadBalancer {
    LoadBalancer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("the balancer starts on loopback")
}

fn http_client() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A GET through the balancer: status and body text.
async fn get(client: &Client, lb: &LoadBalancer, path: &str) -> (StatusCode, String) {
    let response = client
        .get(format!("http://{}{path}", lb.address()))
        .send()
        .await
        .expect("the balancer answers");
    let status = response.status();
    (status, response.text().await.expect("a whole body"))
}

/// Sends `n` GETs one after another and returns the bodies (each instance answers its name).
async fn names_serving(client: &Client, lb: &LoadBalancer, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    for _ in 0..n {
        let (status, body) = get(client, lb, "/hello").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        names.push(body);
    }
    names
}

fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| *n == name).count()
}

fn state_of(lb: &LoadBalancer, id: u64) -> Option<TargetState> {
    lb.targets().iter().find(|t| t.id == id).map(|t| t.state)
}

fn in_flight_of(lb: &LoadBalancer, id: u64) -> u64 {
    lb.targets()
        .iter()
        .find(|t| t.id == id)
        .map_or(0, |t| t.in_flight)
}

/// Polls `done` every 5 ms; returns how long it took, or fails the test after `within`.
async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if done() {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_for_state(lb: &LoadBalancer, id: u64, state: TargetState) -> Duration {
    wait_until(
        &format!("target {id} to be {state:?}"),
        Duration::from_secs(5),
        || state_of(lb, id) == Some(state),
    )
    .await
}

/// Registers each instance under ids 1, 2, .. and waits until all are healthy.
async fn register_healthy(lb: &LoadBalancer, instances: &[&FakeInstance]) {
    for (i, instance) in instances.iter().enumerate() {
        lb.register(i as u64 + 1, instance.addr);
    }
    for i in 0..instances.len() {
        wait_for_state(lb, i as u64 + 1, TargetState::Healthy).await;
    }
}

/// FNV-1a, 64 bits: a checksum that does not care how the bytes were chunked.
#[derive(Debug, Clone, Copy)]
struct Checksum(u64);

impl Checksum {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn of(bytes: &[u8]) -> u64 {
        let mut sum = Self::new();
        sum.update(bytes);
        sum.0
    }
}

/// `len` bytes of a fixed pseudo-random sequence (xorshift), the same on both ends.
fn payload(len: usize) -> Bytes {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    Bytes::from(bytes)
}

/// What `/echo` received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A stand-in for an API instance.
///
/// - `GET /health`: 200, or 503 after `set_healthy(false)`; counted apart from the rest.
/// - `/hello`: 200 with the instance's name. `/slow?ms=N`: the same after N ms (counted).
///   `/status?code=N`: status N with the name.
/// - `/echo`: records method, URI, headers and body; answers with a hop-by-hop header.
/// - `POST /upload`: streams the body through a checksum; answers `"<length> <checksum>"`.
/// - `GET /download?bytes=N`: `payload(N)`; after the first 64 KiB it waits for
///   `release_download()`.
struct FakeInstance {
    addr: SocketAddr,
    state: Arc<InstanceState>,
    stop: watch::Sender<bool>,
    server: Mutex<Option<JoinHandle<()>>>,
}

struct InstanceState {
    name: &'static str,
    healthy: AtomicBool,
    health_checks: AtomicU64,
    requests: AtomicU64,
    slow_answered: AtomicU64,
    upload_bytes: AtomicU64,
    download_release: Notify,
    seen: Mutex<Option<Seen>>,
}

type TestBody = UnsyncBoxBody<Bytes, std::io::Error>;

impl FakeInstance {
    async fn start(name: &'static str) -> FakeInstance {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(InstanceState {
            name,
            healthy: AtomicBool::new(true),
            health_checks: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            slow_answered: AtomicU64::new(0),
            upload_bytes: AtomicU64::new(0),
            download_release: Notify::new(),
            seen: Mutex::new(None),
        });
        let (stop, mut stopped) = watch::channel(false);
        let server = tokio::spawn({
            let state = Arc::clone(&state);
            async move {
                let mut connections = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let state = Arc::clone(&state);
                            let service = service_fn(move |request| {
                                handle(Arc::clone(&state), request)
                            });
                            connections.spawn(async move {
                                let _ = http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            });
                        }
                        _ = stopped.wait_for(|stop| *stop) => break,
                    }
                }
                // Like a dead process: the listener and every connection go at once.
                connections.shutdown().await;
            }
        });
        FakeInstance {
            addr,
            state,
            stop,
            server: Mutex::new(Some(server)),
        }
    }

    fn set_healthy(&self, healthy: bool) {
        self.state.healthy.store(healthy, Ordering::SeqCst);
    }

    fn health_checks(&self) -> u64 {
        self.state.health_checks.load(Ordering::SeqCst)
    }

    fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Seen {
        self.state
            .seen
            .lock()
            .unwrap()
            .clone()
            .expect("/echo was called")
    }

    fn release_download(&self) {
        self.state.download_release.notify_one();
    }

    /// Drops the listener and every open connection, and returns once they are gone.
    async fn kill(&self) {
        self.stop.send_replace(true);
        let server = self.server.lock().unwrap().take();
        if let Some(server) = server {
            server.await.unwrap();
        }
    }
}

impl Drop for FakeInstance {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

fn query_number(request: &Request<Incoming>, name: &str) -> Option<u64> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.parse().ok()).flatten()
    })
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<TestBody> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

async fn handle(
    state: Arc<InstanceState>,
    request: Request<Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    let path = request.uri().path().to_string();
    if path == "/health" {
        state.health_checks.fetch_add(1, Ordering::SeqCst);
        let healthy = state.healthy.load(Ordering::SeqCst);
        let status = if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Ok(text(status, "health"));
    }
    state.requests.fetch_add(1, Ordering::SeqCst);
    let response = match path.as_str() {
        "/hello" => text(StatusCode::OK, state.name),
        "/slow" => {
            let ms = query_number(&request, "ms").unwrap_or(1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            state.slow_answered.fetch_add(1, Ordering::SeqCst);
            text(StatusCode::OK, state.name)
        }
        "/status" => {
            let code = query_number(&request, "code").unwrap_or(200) as u16;
            text(StatusCode::from_u16(code).unwrap(), state.name)
        }
        "/echo" => {
            let method = request.method().to_string();
            let uri = request.uri().to_string();
            let (parts, body) = request.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            *state.seen.lock().unwrap() = Some(Seen {
                method,
                uri,
                headers: parts.headers,
                body,
            });
            let mut response = text(StatusCode::OK, state.name);
            let headers = response.headers_mut();
            headers.insert("connection", "x-reply-hop".parse().unwrap());
            headers.insert("x-reply-hop", "1".parse().unwrap());
            headers.insert("x-reply", "kept".parse().unwrap());
            response
        }
        "/upload" => {
            let mut body = request.into_body();
            let mut checksum = Checksum::new();
            let mut length = 0;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    return Ok(text(StatusCode::BAD_REQUEST, "broken upload"));
                };
                if let Some(data) = frame.data_ref() {
                    checksum.update(data);
                    length += data.len();
                    state
                        .upload_bytes
                        .fetch_add(data.len() as u64, Ordering::SeqCst);
                }
            }
            text(StatusCode::OK, format!("{length} {:016x}", checksum.0))
        }
        "/download" => {
            let len = query_number(&request, "bytes").unwrap_or(0) as usize;
            let data = payload(len);
            let first = data.slice(..len.min(64 * 1024));
            let rest = data.slice(first.len()..);
            let state = Arc::clone(&state);
            let released = async move {
                let wait = state.download_release.notified();
                let _ = tokio::time::timeout(Duration::from_secs(20), wait).await;
            };
            let rest_chunks = (0..rest.len())
                .step_by(64 * 1024)
                .map(move |start| rest.slice(start..(start + 64 * 1024).min(rest.len())))
                .collect::<Vec<_>>();
            let stream = futures::stream::once(async move { first })
                .chain(futures::stream::once(released).filter_map(|()| async { None::<Bytes> }))
                .chain(futures::stream::iter(rest_chunks))
                .map(|chunk| Ok::<_, std::io::Error>(Frame::data(chunk)));
            let mut response = Response::new(StreamBody::new(stream).boxed_unsync());
            response
                .headers_mut()
                .insert("content-length", len.to_string().parse().unwrap());
            response
        }
        _ => text(StatusCode::NOT_FOUND, "no such path"),
    };
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// Health checks and routing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_gets_traffic_only_after_healthy_threshold_checks() {
    let lb = balancer(LbConfig {
        healthy_threshold: 3,
        ..config(Algorithm::RoundRobin)
    })
    .await;
    let a = FakeInstance::start("a").await;
    let client = http_client();
    lb.register(1, a.addr);
    assert_eq!(state_of(&lb, 1), Some(TargetState::Initial));

    let mut statuses = Vec::new();
    let started = Instant::now();
    loop {
        let (status, _) = get(&client, &lb, "/hello").await;
        statuses.push(status);
        if status == StatusCode::OK {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never routed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        statuses[0],
        StatusCode::SERVICE_UNAVAILABLE,
        "Initial gets nothing"
    );
    assert!(
        a.health_checks() >= 3,
        "routed after {} checks",
        a.health_checks()
    );
    assert_eq!(a.requests(), 1, "only the first 200 reached the instance");
    assert_eq!(state_of(&lb, 1), Some(TargetState::Healthy));
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_target_stops_getting_traffic_and_gets_it_back_when_healthy() {
    let lb = balancer(config(Algorithm::RoundRobin)).await;
    let (a, b) = (
        FakeInstance::start("a").await,
        FakeInstance::start("b").await,
    );
    register_healthy(&lb, &[&a, &b]).await;

    // Steady traffic, recording when each instance served.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn({
        let (lb, stop, client) = (lb.clone(), Arc::clone(&stop), http_client());
        async move {
            let mut served = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let (status, name) = get(&client, &lb, "/hello").await;
                assert_eq!(status, StatusCode::OK);
                served.push((Instant::now(), name));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            served
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let failing_since = Instant::now();
    a.set_healthy(false);
    let detected = wait_for_state(&lb, 1, TargetState::Unhealthy).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let served = traffic.await.unwrap();

    let bound = INTERVAL * 2 + CHECK_TIMEOUT + SLACK;
    assert!(detected <= bound, "unhealthy after {detected:?}");
    let last_on_a = served
        .iter()
        .filter(|(_, name)| name == "a")
        .map(|(at, _)| *at)
        .max()
        .unwrap();
    assert!(
        last_on_a.saturating_duration_since(failing_since) <= bound,
        "a served {:?} after failing",
        last_on_a.saturating_duration_since(failing_since)
    );
    let before = served.iter().filter(|(at, _)| *at < failing_since);
    assert!(before.clone().any(|(_, n)| n == "a") && before.clone().any(|(_, n)| n == "b"));

    let client = http_client();
    assert_eq!(count(&names_serving(&client, &lb, 10).await, "b"), 10);

    a.set_healthy(true);
    wait_for_state(&lb, 1, TargetState::Healthy).await;
    let names = names_serving(&client, &lb, 10).await;
    assert_eq!(
        (count(&names, "a"), count(&names, "b")),
        (5, 5),
        "{names:?}"
    );
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_target_is_unhealthy_the_balancer_fails_open() {
    let lb = balancer(config(Algorithm::RoundRobin)).await;
    let (a, b) = (
        FakeInstance::start("a").await,
        FakeInstance::start("b").await,
    );
    register_healthy(&lb, &[&a, &b]).await;
    a.set_healthy(false);
    b.set_healthy(false);
    wait_for_state(&lb, 1, TargetState::Unhealthy).await;
    wait_for_state(&lb, 2, TargetState::Unhealthy).await;

    let names = names_serving(&http_client(), &lb, 6).await;
    assert_eq!(
        (count(&names, "a"), count(&names, "b")),
        (3, 3),
        "{names:?}"
    );
    let window = lb.take_window();
    assert_eq!(
        (window.healthy_host_count, window.unhealthy_host_count),
        (0, 2)
    );
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_outstanding_requests_sends_new_requests_to_the_idle_target() {
    let lb = balancer(config(Algorithm::LeastOutstandingRequests)).await;
    let (a, b) = (
        FakeInstance::start("a").await,
        FakeInstance::start("b").await,
    );
    register_healthy(&lb, &[&a, &b]).await;
    let client = http_client();

    let slow = tokio::spawn({
        let (client, lb) = (client.clone(), lb.clone());
        async move { get(&client, &lb, "/slow?ms=1500").await }
    });
    wait_until(
        "the slow request to be in flight",
        Duration::from_secs(5),
        || in_flight_of(&lb, 1) + in_flight_of(&lb, 2) == 1,
    )
    .await;
    let (busy, idle) = if in_flight_of(&lb, 1) == 1 {
        ("a", "b")
    } else {
        ("b", "a")
    };

    let names = names_serving(&client, &lb, 6).await;
    assert_eq!(count(&names, idle), 6, "busy {busy}, served by {names:?}");
    let (status, name) = slow.await.unwrap();
    assert_eq!((status, name.as_str()), (StatusCode::OK, busy));

    // Both idle again: ties take turns.
    let names = names_serving(&client, &lb, 6).await;
    assert_eq!(
        (count(&names, "a"), count(&names, "b")),
        (3, 3),
        "{names:?}"
    );
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_alternates_even_onto_a_busy_target() {
    let lb = balancer(config(Algorithm::RoundRobin)).await;
    let (a, b) = (
        FakeInstance::start("a").await,
        FakeInstance::start("b").await,
    );
    register_healthy(&lb, &[&a, &b]).await;
    let client = http_client();

    let names = names_serving(&client, &lb, 10).await;
    assert!(names.windows(2).all(|pair| pair[0] != pair[1]), "{names:?}");
    assert_eq!(count(&names, "a"), 5);

    let slow = tokio::spawn({
        let (client, lb) = (client.clone(), lb.clone());
        async move { get(&client, &lb, "/slow?ms=1000").await }
    });
    wait_until(
        "the slow request to be in flight",
        Duration::from_secs(5),
        || in_flight_of(&lb, 1) + in_flight_of(&lb, 2) == 1,
    )
    .await;
    let names = names_serving(&client, &lb, 4).await;
    assert_eq!(
        (count(&names, "a"), count(&names, "b")),
        (2, 2),
        "{names:?}"
    );
    assert_eq!(slow.await.unwrap().0, StatusCode::OK);
    lb.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Deregistration

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistering_drains_requests_in_flight_then_removes_the_target() {
    let lb = balancer(config(Algorithm::LeastOutstandingRequests)).await;
    let (a, b) = (
        FakeInstance::start("a").await,
        FakeInstance::start("b").await,
    );
    let client = http_client();
    register_healthy(&lb, &[&a]).await;
    let slow = tokio::spawn({
        let (client, lb) = (client.clone(), lb.clone());
        async move { get(&client, &lb, "/slow?ms=1500").await }
    });
    wait_until(
        "the slow request to be in flight",
        Duration::from_secs(5),
        || in_flight_of(&lb, 1) == 1,
    )
    .await;
    lb.register(2, b.addr);
    wait_for_state(&lb, 2, TargetState::Healthy).await;

    let deregistering = tokio::spawn({
        let lb = lb.clone();
        async move { lb.deregister(1).await }
    });
    wait_for_state(&lb, 1, TargetState::Draining).await;
    assert_eq!(count(&names_serving(&client, &lb, 5).await, "b"), 5);
    assert!(
        !deregistering.is_finished(),
        "returned while a request was in flight"
    );

    let (status, name) = slow.await.unwrap();
    assert_eq!((status, name.as_str()), (StatusCode::OK, "a"));
    let finished_slow = Instant::now();
    deregistering.await.unwrap();
    assert!(
        finished_slow.elapsed() < SLACK,
        "deregister lagged the drain"
    );
    let ids: Vec<u64> = lb.targets().iter().map(|t| t.id).collect();
    assert_eq!(ids, [2]);
    assert_eq!(a.requests(), 1);
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistering_gives_up_waiting_at_the_deregistration_delay() {
    let delay = Duration::from_millis(300);
    let lb = balancer(LbConfig {
        deregistration_delay: delay,
        ..config(Algorithm::RoundRobin)
    })
    .await;
    let a = FakeInstance::start("a").await;
    let client = http_client();
    register_healthy(&lb, &[&a]).await;
    let slow = tokio::spawn({
        let (client, lb) = (client.clone(), lb.clone());
        async move { get(&client, &lb, "/slow?ms=2500").await }
    });
    wait_until(
        "the slow request to be in flight",
        Duration::from_secs(5),
        || in_flight_of(&lb, 1) == 1,
    )
    .await;

    let started = Instant::now();
    lb.deregister(1).await;
    let took = started.elapsed();
    assert!(took >= delay && took < delay + SLACK, "took {took:?}");
    assert!(lb.targets().is_empty());
    assert!(!slow.is_finished());
    // The balancer does not cut it: it ends when the instance answers (or stops).
    assert_eq!(slow.await.unwrap().0, StatusCode::OK);
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistering_an_idle_target_is_immediate_and_unknown_ids_are_ignored() {
    let lb = balancer(config(Algorithm::RoundRobin)).await;
    let a = FakeInstance::start("a").await;
    register_healthy(&lb, &[&a]).await;
    let started = Instant::now();
    lb.deregister(1).await;
    lb.deregister(99).await;
    assert!(started.elapsed() < SLACK);
    assert!(lb.targets().is_empty());
    let (status, _) = get(&http_client(), &lb, "/hello").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    lb.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Proxying

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_arrive_intact_with_forwarding_headers_and_no_hop_by_hop_ones() {
    let lb = balancer(config(Algorithm::RoundRobin)).await;
    let a = FakeInstance::start("a").await;
    register_healthy(&lb, &[&a]).await;

    let response = http_client()
        .put(format!("http://{}/echo?x=1&y=two", lb.address()))
        .header("x-custom", "kept")
        .header("x-forwarded-for", "203.0.113.9")
        .header("connection", "x-hop")
        .header("x-hop", "dropped")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-reply"], "kept");
    assert!(response.headers().get("x-reply-hop").is_none());

    let seen = a.seen();
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.uri, "/echo?x=1&y=two");
    assert_eq!(seen.body, "hello");
    let header = |name: &str| {
        seen.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(header("x-custom").as_deref(), Some("kept"));
    assert_eq!(
        header("x-forwarded-for").as_deref(),
        Some("203.0.113.9, 127.0.0.1")
    );
    assert_eq!(header("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        header("x-forwarded-port"),
        Some(lb.address().port().to_string())
    );
    assert_eq!(
        header("host"),
        Some(lb.address().to_string()),
        "Host is kept"
    );
    assert_eq!(header("x-hop"), None);
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_upload_streams_through_unchanged() {
    let lb = balancer(config(Algorithm::RoundRobin)).await;
    let a = FakeInstance::start("a").await;
    register_healthy(&lb, &[&a]).await;

    let data = payload(10 * MIB);
    let expected = format!("{} {:016x}", data.len(), Checksum::of(&data));
    let chunks: Vec<Bytes> = (0..data.len())
        .step_by(64 * 1024)
        .map(|start| data.slice(start..start + 64 * 1024))
        .collect();
    // After the first MiB the client waits until the instance has received bytes: a balancer
    // that collected the body before forwarding it would never let that happen.
    let state = Arc::clone(&a.state);
    let body = futures::stream::iter(chunks.into_iter().enumerate()).then(move |(i, chunk)| {
        let state = Arc::clone(&state);
        async move {
            if i == 16 {
                let deadline = Instant::now() + Duration::from_secs(5);
                while state.upload_bytes.load(Ordering::SeqCst) == 0 {
                    if Instant::now() > deadline {
                        return Err(std::io::Error::other(
                            "the instance saw nothing of the first MiB: the body is not streamed",
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Ok::<_, std::io::Error>(chunk)
        }
    });
    let response = http_client()
        .post(format!("http://{}/upload", lb.address()))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("the upload goes through");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), expected);
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_download_streams_through_unchanged() {
    let lb = balancer(config(Algorithm::RoundRobin)).await;
    let a = FakeInstance::start("a").await;
    register_healthy(&lb, &[&a]).await;

    let len = 10 * MIB;
    let client = http_client();
    // The instance holds the rest back until the client has the first chunk; a balancer that
    // collected the body before answering would deliver nothing until the instance gave up.
    let (mut response, first) = tokio::time::timeout(Duration::from_secs(5), async {
        let url = format!("http://{}/download?bytes={len}", lb.address());
        let mut response = client.get(url).send().await.unwrap();
        let first = response.chunk().await.unwrap().unwrap();
        (response, first)
    })
    .await
    .expect("the first chunk arrives before the rest is sent: the body streams");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-length"],
        len.to_string().as_str()
    );
    a.release_download();
    let mut checksum = Checksum::new();
    checksum.update(&first);
    let mut received = first.len();
    while let Some(chunk) = response.chunk().await.unwrap() {
        checksum.update(&chunk);
        received += chunk.len();
    }
    assert_eq!(received, len);
    assert_eq!(checksum.0, Checksum::of(&payload(len)));
    lb.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// The balancer's own answers

#[tokio::test]
async fn the_balancer_refuses_settings_it_cannot_run_with() {
    let zero_interval = LbConfig {
        interval: Duration::ZERO,
        ..config(Algorithm::RoundRobin)
    };
    let error = LoadBalancer::start("127.0.0.1:0".parse().unwrap(), zero_interval)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("interval_secs"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_targets_the_balancer_answers_503() {
    let lb = balancer(config(Algorithm::LeastOutstandingRequests)).await;
    let (status, body) = get(&http_client(), &lb, "/hello").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("503 Service Temporarily Unavailable"),
        "{body}"
    );
    let window = lb.take_window();
    assert_eq!(window.elb_503_count, 1);
    assert_eq!(
        window.request_count, 0,
        "no target chosen, as in ALB's RequestCount"
    );
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_target_gets_502_and_is_marked_unhealthy() {
    let lb = balancer(config(Algorithm::RoundRobin)).await;
    let a = FakeInstance::start("a").await;
    let client = http_client();
    register_healthy(&lb, &[&a]).await;
    assert_eq!(get(&client, &lb, "/hello").await.0, StatusCode::OK);
    lb.take_window();

    let died = Instant::now();
    a.kill().await;
    // Whether or not the checker has noticed yet, the request goes to `a`: it is the only
    // target, healthy or (failing open) unhealthy.
    let (status, body) = get(&client, &lb, "/hello").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.contains("502 Bad Gateway"), "{body}");
    wait_for_state(&lb, 1, TargetState::Unhealthy).await;
    let detected = died.elapsed();
    assert!(
        detected <= INTERVAL * 2 + CHECK_TIMEOUT + SLACK,
        "{detected:?}"
    );

    let window = lb.take_window();
    assert_eq!(window.elb_502_count, 1);
    assert_eq!(window.request_count, 1);
    assert_eq!(window.target_response_time_count, 0, "no response head");
    assert_eq!(window.unhealthy_host_count, 1);
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_silent_past_the_idle_timeout_gets_504() {
    let idle_timeout = Duration::from_millis(300);
    let lb = balancer(LbConfig {
        idle_timeout,
        ..config(Algorithm::RoundRobin)
    })
    .await;
    let a = FakeInstance::start("a").await;
    register_healthy(&lb, &[&a]).await;

    let started = Instant::now();
    let (status, body) = get(&http_client(), &lb, "/slow?ms=3000").await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(body.contains("504 Gateway Time-out"), "{body}");
    assert!(
        took >= idle_timeout && took < idle_timeout + SLACK,
        "{took:?}"
    );
    let window = lb.take_window();
    assert_eq!((window.elb_504_count, window.request_count), (1, 1));
    assert_eq!(in_flight_of(&lb, 1), 0);
    lb.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Metrics and shutdown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_window_counts_what_was_sent_and_starts_over() {
    let lb = balancer(config(Algorithm::RoundRobin)).await;
    let (a, b) = (
        FakeInstance::start("a").await,
        FakeInstance::start("b").await,
    );
    register_healthy(&lb, &[&a, &b]).await;
    let client = http_client();
    lb.take_window();

    let paths = [
        "/hello",
        "/hello",
        "/hello",
        "/hello",
        "/slow?ms=200",
        "/slow?ms=200",
        "/status?code=302",
        "/status?code=404",
        "/status?code=500",
        "/status?code=503",
    ];
    let started = Instant::now();
    for path in paths {
        get(&client, &lb, path).await;
    }
    let elapsed = started.elapsed();
    let window = lb.take_window();
    assert_eq!(window.request_count, 10);
    assert_eq!(window.requests_per_target.get(&1), Some(&5));
    assert_eq!(window.requests_per_target.get(&2), Some(&5));
    let classes = (
        window.target_2xx_count,
        window.target_3xx_count,
        window.target_4xx_count,
        window.target_5xx_count,
    );
    assert_eq!(classes, (6, 1, 1, 2));
    assert_eq!(window.elb_502_count + window.elb_503_count, 0);
    assert_eq!(window.target_response_time_count, 10);
    let response_time = window.target_response_time_sum_secs;
    assert!(
        response_time >= 0.4 && response_time <= elapsed.as_secs_f64(),
        "{response_time} s of {elapsed:?}"
    );
    assert_eq!(
        (window.healthy_host_count, window.unhealthy_host_count),
        (2, 0)
    );
    assert!(window.new_connection_count >= 1);
    assert!(window.duration >= elapsed);
    assert_eq!(window.targets.len(), 2);
    assert_eq!(window.request_count_per_target(), Some(5.0));

    lb.deregister(1).await;
    lb.deregister(2).await;
    assert_eq!(
        get(&client, &lb, "/hello").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let window = lb.take_window();
    assert_eq!((window.request_count, window.elb_503_count), (0, 1));
    assert_eq!(
        window.target_2xx_count + window.target_response_time_count,
        0
    );
    // Deregistering lowers HealthyHostCount without raising UnHealthyHostCount, as on ALB.
    assert_eq!(
        (window.healthy_host_count, window.unhealthy_host_count),
        (0, 0)
    );
    assert!(window.requests_per_target.is_empty());
    lb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight_and_stops_listening() {
    let lb = balancer(config(Algorithm::RoundRobin)).await;
    let a = FakeInstance::start("a").await;
    register_healthy(&lb, &[&a]).await;
    let client = http_client();
    let slow = tokio::spawn({
        let (client, lb) = (client.clone(), lb.clone());
        async move { get(&client, &lb, "/slow?ms=800").await }
    });
    wait_until(
        "the slow request to be in flight",
        Duration::from_secs(5),
        || in_flight_of(&lb, 1) == 1,
    )
    .await;

    lb.shutdown().await;
    assert_eq!(
        a.state.slow_answered.load(Ordering::SeqCst),
        1,
        "shutdown returned before the request was answered"
    );
    assert_eq!(slow.await.unwrap(), (StatusCode::OK, "a".to_string()));
    let refused = tokio::net::TcpStream::connect(lb.address()).await;
    assert!(refused.is_err(), "still listening after shutdown");
}
