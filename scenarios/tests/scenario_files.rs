//! Scenario files: the examples load, mistakes are named with their line, and a file's
//! users send what it says (bodies, headers, data rows, extracts, checks, skips) to a
//! scripted server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scenarios::file::FileScenario;
use scenarios::http::Target;
use scenarios::record::{Exchange, Outcome, Recorder, RequestRecord};
use scenarios::scenario1::{Step, Weights};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

#[derive(Default)]
struct Collected {
    records: Mutex<Vec<RequestRecord>>,
    skips: Mutex<Vec<(&'static str, &'static str)>>,
}

impl Recorder for Collected {
    fn record(&self, record: RequestRecord) {
        self.records.lock().unwrap().push(record);
    }
    fn skip(&self, step: &'static str, reason: &'static str) {
        self.skips.lock().unwrap().push((step, reason));
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

/// A keep-alive server with a few routes, logging every request.
async fn shop() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&log);
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::spawn(serve(socket, Arc::clone(&shared)));
        }
    });
    (url, log)
}

async fn serve(mut socket: TcpStream, log: Arc<Mutex<Vec<Seen>>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_string();
        let mut lines = head.lines();
        let mut start = lines.next().unwrap().split(' ');
        let (method, path) = (
            start.next().unwrap().to_string(),
            start.next().unwrap().to_string(),
        );
        let headers: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        while buffer.len() < end + 4 + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).to_string();
        buffer.drain(..end + 4 + length);
        let session = headers.get("x-session").cloned();
        let (status, extra, answer) = match (method.as_str(), path.split('?').next().unwrap()) {
            ("POST", "/login") if body.contains("password=") => (
                200,
                format!("x-session: s-{}\r\n", body.len()),
                "{}".to_string(),
            ),
            ("GET", "/account") if session.is_some() => {
                (200, String::new(), r#"{"plan":"pro"}"#.to_string())
            }
            ("GET", "/account") => (401, String::new(), r#"{"error":"no session"}"#.to_string()),
            ("GET", "/items") => (
                200,
                String::new(),
                r#"{"items":[{"id":"a"},{"id":"b"},{"name":"no id"}]}"#.to_string(),
            ),
            ("POST", p) if p.starts_with("/vote/") => (200, String::new(), "{}".to_string()),
            ("POST", "/cart") => (201, String::new(), r#"{"status":"added"}"#.to_string()),
            _ => (404, String::new(), r#"{"error":"not found"}"#.to_string()),
        };
        log.lock().unwrap().push(Seen {
            method,
            path,
            headers,
            body,
        });
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Writes `text` as a scenario file (and `users.csv` beside it) in a new directory.
fn scenario_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.csv"),
        "email,password\nana@example.test,Ana-1\nluis@example.test,Luis-2\n",
    )
    .unwrap();
    let path = dir.path().join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Runs user `index`: its on_start steps, then `iterations` iterations.
async fn run_user(
    scenario: &FileScenario,
    url: &str,
    index: u64,
    iterations: usize,
    recorder: &Collected,
) {
    let target = Target::new(url, Duration::from_secs(5)).unwrap();
    let mut connection = target.connection();
    let mut user = scenario.user(index);
    let mut ex = Exchange::new(&mut connection, recorder, None);
    scenario.setup(&mut ex, &mut user).await;
    for _ in 0..iterations {
        let mut ex = Exchange::new(&mut connection, recorder, None);
        scenario.iterate(&mut ex, &mut user).await;
    }
}

#[test]
fn every_example_loads() {
    let mut loaded = 0;
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let scenario = FileScenario::load(&path, &[], "t")
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(scenario.describe().contains(&scenario.name));
            loaded += 1;
        }
    }
    assert!(loaded >= 3, "{loaded} examples");
}

#[test]
fn the_escenario1_file_draws_steps_as_scenario1_does() {
    let file = FileScenario::load(&examples().join("escenario1.toml"), &[], "t").unwrap();
    let weights = Weights::default();
    let expected: Vec<(&str, f64)> = Step::ALL
        .iter()
        .map(|s| {
            let w = Weights::parse(&format!("{}:1", s.name())).unwrap();
            // The default weight of this step: the total drops by default − 1 when set to 1.
            let weight = weights.total() - w.total() + 1;
            (s.name(), f64::from(weight) / f64::from(weights.total()))
        })
        .collect();
    assert_eq!(file.step_shares(), expected);
    assert_eq!(file.endpoints()[..2], ["signup", "login"]);
}

#[tokio::test]
async fn a_user_sends_what_its_file_says() {
    let (url, log) = shop().await;
    let (_dir, path) = scenario_file(
        r#"
name = "shop"
[settings]
order = "sequence"
[variables]
sku = "SKU-{random_int(1000, 9999)}"
[data]
file = "users.csv"
[[on_start]]
name = "login"
method = "POST"
path = "/login"
form = { email = "{row.email}", password = "{row.password}" }
extract = { session = { header = "x-session" } }
[[steps]]
name = "account"
path = "/account"
headers = { "x-session" = "{session}" }
check = { json = { "/plan" = { equals = "pro" } } }
[[steps]]
name = "cart"
method = "POST"
path = "/cart?user={user}&i={iteration}"
json = { sku = "{sku}", quantity = 2, note = "{{literal}}" }
check = { status = [201], body_contains = "added" }
"#,
    );
    let scenario = FileScenario::load(&path, &[], "t").unwrap();
    let recorder = Collected::default();
    run_user(&scenario, &url, 1, 2, &recorder).await;

    let seen = log.lock().unwrap().clone();
    let lines: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        lines,
        [
            "POST /login",
            "GET /account",
            "POST /cart?user=1&i=0",
            "GET /account",
            "POST /cart?user=1&i=1"
        ]
    );
    // User 1 has the data file's second row, sent as a form.
    assert_eq!(seen[0].body, "email=luis%40example.test&password=Luis-2");
    assert_eq!(
        seen[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    // The session came back in a header and goes out in one.
    let session = seen[1]
        .headers
        .get("x-session")
        .expect("the extracted header");
    assert!(session.starts_with("s-"), "{session}");
    let cart: serde_json::Value = serde_json::from_str(&seen[2].body).unwrap();
    assert_eq!(cart["quantity"], 2);
    assert_eq!(cart["note"], "{literal}");
    let sku = cart["sku"].as_str().unwrap();
    assert!(sku.starts_with("SKU-") && sku.len() == 8, "{sku}");
    // A variable is drawn once per user: both carts carry the same SKU.
    let second: serde_json::Value = serde_json::from_str(&seen[4].body).unwrap();
    assert_eq!(second["sku"], cart["sku"]);

    let records = recorder.records.lock().unwrap();
    assert!(records.iter().all(|r| r.success), "{records:?}");
    assert_eq!(records.len(), 5);
}

#[tokio::test]
async fn checks_fail_answers_that_arrive_and_transport_errors_stay_apart() {
    let (url, _log) = shop().await;
    let steps = r#"
[[steps]]
name = "account"
path = "/account"
check = { status = [200] }
[[steps]]
name = "items"
path = "/items"
check = { json = { "/items/0/id" = { equals = "b" } } }
"#;
    // `order` belongs under [settings]: an unknown top-level key is an error with its line.
    let (_dir, path) = scenario_file(&format!("name = \"checks\"\norder = \"sequence\"\n{steps}"));
    let e = FileScenario::load(&path, &[], "t").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.to_string().contains("order"), "{e}");

    let (_dir, path) = scenario_file(&format!(
        "name = \"checks\"\n[settings]\norder = \"sequence\"\n{steps}"
    ));
    let scenario = FileScenario::load(&path, &[], "t").unwrap();
    let recorder = Collected::default();
    run_user(&scenario, &url, 0, 1, &recorder).await;
    let records = recorder.records.lock().unwrap();
    let outcomes: Vec<_> = records
        .iter()
        .map(|r| (r.endpoint, r.outcome, r.success))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("account", Outcome::Status(401), false),
            // Answered 200, but not what the check asks for.
            ("items", Outcome::Status(200), false),
        ]
    );
}

#[tokio::test]
async fn a_step_waits_for_its_variables_and_pick_new_never_repeats() {
    let (url, log) = shop().await;
    let (_dir, path) = scenario_file(
        r#"
name = "votes"
[settings]
order = "sequence"
[[steps]]
name = "vote"
method = "POST"
path = "/vote/{pick_new(ids)}"
[[steps]]
name = "items"
path = "/items"
extract = { ids = { json = "/items/*/id" } }
"#,
    );
    let scenario = FileScenario::load(&path, &[], "t").unwrap();
    let recorder = Collected::default();
    run_user(&scenario, &url, 0, 4, &recorder).await;
    let votes: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.path.starts_with("/vote/"))
        .map(|s| s.path.clone())
        .collect();
    // Iteration 0: no ids yet (skipped); 1 and 2: a and b in some order; 3: none left.
    assert_eq!(votes.len(), 2, "{votes:?}");
    assert_ne!(votes[0], votes[1]);
    assert!(votes.iter().all(|v| v == "/vote/a" || v == "/vote/b"));
    let skips = recorder.skips.lock().unwrap();
    assert_eq!(skips.len(), 2);
    assert!(skips.iter().all(|(step, _)| *step == "vote"));
}

#[test]
fn mistakes_are_named_with_their_line_and_fix() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "[[steps]]\nname = \"a\"\npath = \"/x/{tokn}\"\n",
            3,
            "unknown variable \"tokn\"",
        ),
        (
            "[[steps]]\nname = \"a\"\npath = \"x\"\n",
            3,
            "must start with /",
        ),
        (
            "[[steps]]\nname = \"a\"\npath = \"/\"\nmethod = \"FETCH\"\n",
            4,
            "use GET, POST",
        ),
        (
            "[[steps]]\nname = \"a\"\npath = \"/\"\n[[steps]]\nname = \"a\"\npath = \"/b\"\n",
            5,
            "a second step named",
        ),
        (
            "[settings]\nthink_time = \"3s..1s\"\n[[steps]]\nname = \"a\"\npath = \"/\"\n",
            2,
            "min..max",
        ),
        (
            "[[steps]]\nname = \"a\"\npath = \"/\"\npaht = \"/x\"\n",
            4,
            "unknown field",
        ),
        (
            "[[steps]]\nname = \"a\"\npath = \"/{row.mail}\"\n[data]\nfile = \"users.csv\"\n",
            3,
            "no column \"mail\"",
        ),
        (
            "[data]\nfile = \"missing.csv\"\n[[steps]]\nname = \"a\"\npath = \"/\"\n",
            1,
            "missing.csv",
        ),
        (
            "[[steps]]\nname = \"a b\"\npath = \"/\"\n",
            2,
            "1 to 64 letters",
        ),
        (
            "[settings]\norder = \"sequence\"\n[[steps]]\nname = \"a\"\npath = \"/\"\nweight = 2\n",
            6,
            "no meaning",
        ),
        (
            "[[steps]]\nname = \"a\"\npath = \"/\"\ncheck = { json = { \"items\" = \"exists\" } }\n",
            1,
            "not a JSON pointer",
        ),
        ("name = \"x\"\n", 0, "no [[steps]]"),
        (
            "name = \"scenario2\"\n[[steps]]\nname = \"a\"\npath = \"/\"\n",
            0,
            "built-in scenario",
        ),
    ];
    for (text, line, hint) in cases {
        let (_dir, path) = scenario_file(text);
        let e = FileScenario::load(&path, &[], "t").unwrap_err();
        assert_eq!(e.line.unwrap_or(0), *line, "{text}\n→ {e}");
        assert!(e.to_string().contains(hint), "{text}\n→ {e}");
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
    }
    // --param sets a [variables] entry, and only one that exists.
    let (_dir, path) = scenario_file(
        "[variables]\ntenant = \"a\"\n[[steps]]\nname = \"a\"\npath = \"/{tenant}\"\n",
    );
    let e = FileScenario::load(&path, &[("tenat".into(), "b".into())], "t").unwrap_err();
    assert!(e.to_string().contains("it has tenant"), "{e}");
    assert!(FileScenario::load(&path, &[("tenant".into(), "b".into())], "t").is_ok());
}
