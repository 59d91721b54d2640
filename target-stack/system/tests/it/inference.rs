//! Seed 000's inference service on a random loopback port: the real router and model
//! in-process, and the real binary for the role's command line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use target_stack::config::SlowFraction;
use target_stack::inference::model::Model;
use target_stack::inference::{self, InferenceState};

/// One trained model for every test of this binary (training is the same each time).
fn model() -> Arc<Model> {
    static MODEL: OnceLock<Arc<Model>> = OnceLock::new();
    Arc::clone(MODEL.get_or_init(|| Arc::new(inference::train().expect("the model trains"))))
}

struct InferenceApp {
    address: SocketAddr,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl InferenceApp {
    async fn spawn(slow_fraction: SlowFraction) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state = InferenceState::new(model(), "i-test-0001", slow_fraction);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(inference::serve(
            listener,
            state,
            Duration::from_secs(30),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            address,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            _stop: stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn predict_raw(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/predict"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn seed_features() -> Value {
    // The seed's own example request.
    json!({"features": (1..=20).collect::<Vec<i32>>()})
}

#[tokio::test]
async fn health_info_and_predict_answer_as_the_seeds_app_does() {
    let app = InferenceApp::spawn(SlowFraction::OFF).await;
    let (status, health) = app.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["instance_id"], "i-test-0001");
    assert_eq!(health["model_loaded"], true);

    let (status, info) = app.get("/info").await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["kind"], "random_forest");
    assert_eq!(info["trees"], 50);
    assert_eq!(info["features"], 20);
    assert_eq!(info["training_samples"], 1000);
    assert!(info["training_time_ms"].as_f64().unwrap() > 0.0, "{info}");
    assert!(info["training_accuracy"].as_f64().unwrap() > 0.8, "{info}");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["max_load_test_secs"], 30);

    let (status, first) = app.predict_raw(seed_features().to_string()).await;
    assert_eq!(status, 200, "{first}");
    let class = first["prediction"].as_u64().unwrap();
    assert!(class < 2, "{first}");
    let probability = first["probability"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&probability), "{first}");
    assert_eq!(first["instance_id"], "i-test-0001");
    let latency = first["latency_ms"].as_f64().unwrap();
    assert!((0.0..1000.0).contains(&latency), "{first}");
    // The model is fixed: the same sample, the same answer.
    let (_, second) = app.predict_raw(seed_features().to_string()).await;
    assert_eq!(second["prediction"], first["prediction"]);
    assert_eq!(second["probability"], first["probability"]);
    // The seed's clients send uniform numbers in -1..1.
    let uniform: Vec<f64> = (0..20).map(|i| (i as f64 / 10.0) - 1.0).collect();
    let (status, body) = app
        .predict_raw(json!({ "features": uniform }).to_string())
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn bad_predictions_are_refused_with_the_problem_and_the_fix() {
    let app = InferenceApp::spawn(SlowFraction::OFF).await;
    let nineteen: Vec<i32> = (1..=19).collect();
    let mut strings: Vec<Value> = (1..=20).map(Value::from).collect();
    strings[4] = json!("five");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            json!({ "features": nineteen }).to_string(),
            "wrong_feature_count",
            "has 19 numbers; the model takes exactly 20",
        ),
        (
            json!({ "features": strings }).to_string(),
            "invalid_features",
            "features[4] is the string \"five\", not a number",
        ),
        (
            "{\"features\": [1, 2,".into(),
            "invalid_json",
            "not valid JSON",
        ),
        ("".into(), "invalid_json", "empty"),
        (
            "{\"inputs\": []}".into(),
            "invalid_features",
            "no \"features\" field",
        ),
    ];
    for (body, code, words) in cases {
        let (status, error) = app.predict_raw(body.clone()).await;
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["error"], code, "{body}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(words), "{body}: {message}");
    }
    // A body far larger than a sample is refused before it is parsed.
    let huge = format!("{{\"features\": [{}]}}", vec!["1.0"; 10_000].join(","));
    let (status, error) = app.predict_raw(huge).await;
    assert_eq!(status, 413, "{error}");
    assert_eq!(error["error"], "body_too_large");
    assert!(
        error["message"].as_str().unwrap().contains("16384 bytes"),
        "{error}"
    );
    // Wrong method and unknown paths answer in the same JSON shape.
    let (status, error) = app.get("/predict").await;
    assert_eq!(status, 405, "{error}");
    assert_eq!(error["error"], "method_not_allowed");
    let (status, error) = app.get("/api/videos").await;
    assert_eq!(status, 404);
    assert!(
        error["message"].as_str().unwrap().contains("POST /predict"),
        "{error}"
    );
    // Still serving after all that.
    let (status, _) = app.predict_raw(seed_features().to_string()).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_test_burns_cpu_for_its_duration_within_the_cap() {
    let app = InferenceApp::spawn(SlowFraction::OFF).await;
    let started = Instant::now();
    let burning = {
        let (client, url) = (app.client.clone(), app.url("/load-test?duration=1.5"));
        tokio::spawn(async move { client.get(url).send().await.unwrap() })
    };
    // The burn runs off the async workers: health checks still answer at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    let (status, _) = app.get("/health").await;
    assert_eq!(status, 200);
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "/health took {:?} during a load test",
        asked.elapsed()
    );
    let response = burning.await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["duration_secs"], 1.5);
    assert!(body["iterations"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(body["instance_id"], "i-test-0001");

    for (query, code, words) in [
        ("duration=31", "duration_too_long", "cap of 30 s"),
        ("duration=3600", "duration_too_long", "at most 30 s"),
        (
            "duration=ten",
            "invalid_duration",
            "not a number of seconds",
        ),
        ("duration=-1", "invalid_duration", "from 0 to 30"),
    ] {
        let asked = Instant::now();
        let (status, error) = app.get(&format!("/load-test?{query}")).await;
        assert_eq!(status, 400, "{query}: {error}");
        assert_eq!(error["error"], code, "{query}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(words),
            "{query}: {error}"
        );
        assert!(asked.elapsed() < Duration::from_secs(1), "refused at once");
    }
}

#[tokio::test]
async fn metrics_count_requests_as_the_apis_do() {
    let app = InferenceApp::spawn(SlowFraction::OFF).await;
    for _ in 0..3 {
        app.predict_raw(seed_features().to_string()).await;
    }
    app.predict_raw("[]").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"anb_http_requests_total{method="POST",route="/predict",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"anb_http_requests_total{method="POST",route="/predict",status="400"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"anb_http_request_duration_seconds_count{method="POST",route="/predict"} 4"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_slow_option_delays_predictions_as_the_seed_does() {
    // Every request slow (the seed's 10 %, raised to all of them to test it surely).
    let app = InferenceApp::spawn(SlowFraction::new(1.0).unwrap()).await;
    let started = Instant::now();
    let (status, body) = app.predict_raw(seed_features().to_string()).await;
    assert_eq!(status, 200);
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(500)..Duration::from_millis(4000)).contains(&took),
        "{took:?}"
    );
    assert!(body["latency_ms"].as_f64().unwrap() >= 500.0, "{body}");
    let (_, info) = app.get("/info").await;
    assert_eq!(info["slow_fraction"], 1.0);
    // Off: no request sleeps.
    let fast = InferenceApp::spawn(SlowFraction::OFF).await;
    let started = Instant::now();
    for _ in 0..10 {
        fast.predict_raw(seed_features().to_string()).await;
    }
    assert!(started.elapsed() < Duration::from_millis(500));
}

/// The real binary's `inference` role: it prints where it listens, as the API does.
#[test]
fn the_binary_serves_the_role_on_a_random_port_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .args(["inference", "--bind", "127.0.0.1:0"])
        .env("ANB_DATA_DIR", dir.path())
        .env("ANB_INSTANCE_ID", "i-binary")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let health: Value = runtime.block_on(async {
        reqwest::get(format!("http://{address}/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(health["instance_id"], "i-binary");
    crate::helpers::sigterm(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_target-stack"))
        .args(["inference", "--bind", "127.0.0.1:0", "--slow-fraction", "2"])
        .env("ANB_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("from 0") && stderr.contains("0.1"),
        "{stderr}"
    );
}
