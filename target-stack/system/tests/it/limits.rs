//! Limits under load (issue 17): login floods, throttles, oversized and slow requests, common
//! passwords. Each test sets the limit it checks low through settings and talks to the real
//! API on a random loopback port, with raw TCP where a well-behaved client cannot misbehave.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Flavor, TestApp, TestEnv, fake_mp4};

async fn embedded(settings: &[(&str, &str)]) -> (TestEnv, TestApp) {
    let env = TestEnv::with(Flavor::Embedded, settings)
        .await
        .expect("embedded backends need no service");
    let app = TestApp::spawn(&env).await;
    (env, app)
}

/// A login's status, its Retry-After header and its JSON body.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
    took: Duration,
}

async fn login(app: &TestApp, email: &str, password: &str, forwarded: Option<&str>) -> Answer {
    let started = Instant::now();
    let mut request = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = response.json().await.unwrap();
    Answer {
        status,
        retry_after,
        body,
        took: started.elapsed(),
    }
}

/// One gauge or counter of `/metrics`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_past_the_hashing_bound_gets_quick_503s_and_the_bound_holds() {
    // One hash at a time, nobody waits: every login that finds the slot taken is refused.
    let (_env, app) = embedded(&[
        ("ANB_HASH_CONCURRENCY", "1"),
        ("ANB_HASH_QUEUE", "0"),
        ("ANB_HASH_WAIT_SECS", "60"),
        ("ANB_LOGIN_LIMIT_PER_ADDRESS", "0"),
    ])
    .await;
    let flood = (0..24).map(|i| {
        let app = &app;
        async move { login(app, &format!("nobody{i}@example.com"), "Not-a-pass-1", None).await }
    });
    let answers = futures::future::join_all(flood).await;

    let busy: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(
        answers.iter().all(|a| a.status == 401 || a.status == 503),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(!busy.is_empty(), "24 logins at once and none refused");
    for answer in &busy {
        assert_eq!(answer.body["error"], "busy", "{}", answer.body);
        assert!(answer.retry_after.is_some_and(|s| s >= 1));
        // Refused without waiting for a slot (a wait would be up to 60 s).
        assert!(answer.took < Duration::from_secs(30), "{:?}", answer.took);
    }
    assert_eq!(
        metric(&app, "anb_http_password_hashes_in_flight_peak").await,
        1.0
    );
    assert_eq!(
        metric(&app, "anb_http_password_hashes_refused_total").await,
        busy.len() as f64
    );
    assert_eq!(
        metric(&app, "anb_http_password_hashes_in_flight").await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_logins_are_served_when_a_slot_frees_in_time() {
    // A queue as long as the flood and a long wait: everyone is answered, none refused.
    let (_env, app) = embedded(&[
        ("ANB_HASH_CONCURRENCY", "1"),
        ("ANB_HASH_QUEUE", "8"),
        ("ANB_HASH_WAIT_SECS", "60"),
    ])
    .await;
    let flood = (0..8).map(|i| {
        let app = &app;
        async move { login(app, &format!("nobody{i}@example.com"), "Not-a-pass-1", None).await }
    });
    let answers = futures::future::join_all(flood).await;
    assert!(answers.iter().all(|a| a.status == 401));
    assert_eq!(
        metric(&app, "anb_http_password_hashes_in_flight_peak").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_throttled_per_account_and_per_address() {
    let (_env, app) = embedded(&[
        ("ANB_LOGIN_LIMIT_PER_ACCOUNT", "3"),
        ("ANB_LOGIN_LIMIT_PER_ADDRESS", "5"),
    ])
    .await;
    assert_eq!(app.signup("ana@example.com", "Cali").await.status(), 201);
    for _ in 0..3 {
        assert_eq!(
            login(&app, "ana@example.com", "wrong-pass-1", None)
                .await
                .status,
            401
        );
    }
    // The account's allowance is spent, even for the right password and another spelling.
    let throttled = login(&app, "ANA@example.com", "s3cret-pass", None).await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert_eq!(throttled.body["error"], "too_many_attempts");
    assert!(
        throttled.body["message"]
            .as_str()
            .unwrap()
            .contains("account")
    );
    // 3 a minute: the next attempt passes within 20 s.
    assert!(throttled.retry_after.is_some_and(|s| (1..=20).contains(&s)));

    // This address has made 4 attempts: one more passes, then the address is refused, and
    // X-Forwarded-For is not believed without ANB_TRUST_FORWARDED_FOR.
    assert_eq!(
        login(&app, "luis@example.com", "wrong-pass-1", None)
            .await
            .status,
        401
    );
    let by_address = login(
        &app,
        "eva@example.com",
        "wrong-pass-1",
        Some("198.51.100.7"),
    )
    .await;
    assert_eq!(by_address.status, 429);
    assert!(
        by_address.body["message"]
            .as_str()
            .unwrap()
            .contains("address")
    );
    assert_eq!(
        metric(&app, r#"anb_http_logins_throttled_total{by="account"}"#).await,
        1.0
    );
    assert_eq!(
        metric(&app, r#"anb_http_logins_throttled_total{by="address"}"#).await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_balancer_the_forwarded_address_is_throttled() {
    let (_env, app) = embedded(&[
        ("ANB_LOGIN_LIMIT_PER_ADDRESS", "2"),
        ("ANB_TRUST_FORWARDED_FOR", "true"),
    ])
    .await;
    // The balancer appends the address it saw: only that last entry counts, so a client
    // cannot dodge the throttle by writing its own X-Forwarded-For.
    for spoof in ["1.1.1.1", "2.2.2.2"] {
        let forwarded = format!("{spoof}, 203.0.113.9");
        let answer = login(&app, "a@example.com", "wrong-pass-1", Some(&forwarded)).await;
        assert_eq!(answer.status, 401);
    }
    let spent = login(
        &app,
        "b@example.com",
        "wrong-pass-1",
        Some("3.3.3.3, 203.0.113.9"),
    )
    .await;
    assert_eq!(spent.status, 429);
    let other = login(&app, "b@example.com", "wrong-pass-1", Some("203.0.113.10")).await;
    assert_eq!(other.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_passwords_are_refused_at_signup() {
    let (_env, app) = embedded(&[]).await;
    for common in ["password123", "qwertyuiop", "QWERTYUIOP"] {
        let response = app
            .client
            .post(app.url("/api/auth/signup"))
            .json(&json!({
                "first_name": "Ana", "last_name": "Díaz", "email": "ana@example.com",
                "password1": common, "password2": common, "city": "Cali", "country": "CO",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "weak_password");
        assert!(
            body["message"].as_str().unwrap().contains("most common"),
            "{body}"
        );
    }
    assert_eq!(app.signup("ana@example.com", "Cali").await.status(), 201);
}

/// Raw HTTP/1.1, for clients that stall or lie.
async fn connect(address: SocketAddr) -> TcpStream {
    TcpStream::connect(address).await.unwrap()
}

/// Reads one response (head and a Content-Length body) within `within`: its status and
/// JSON body. A reset after the whole response arrived is fine (the server closes a
/// connection whose body it refused to read).
async fn read_response(stream: &mut TcpStream, within: Duration) -> (u16, Value) {
    let mut received = Vec::new();
    let read = async {
        let mut buf = [0u8; 8192];
        loop {
            if let Some(end) = find(&received, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if received.len() >= end + 4 + length {
                    return;
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .expect("the server did not answer in time");
    let end = find(&received, b"\r\n\r\n").expect("no response head");
    let head = String::from_utf8_lossy(&received[..end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_slice(&received[end + 4..]).unwrap_or(Value::Null);
    (status, body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

const BOUNDARY: &str = "aforo-test-boundary";

fn part_head(name: &str, file: bool) -> Vec<u8> {
    let filename = if file {
        "; filename=\"clip.mp4\"\r\nContent-Type: video/mp4"
    } else {
        ""
    };
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n")
        .into_bytes()
}

fn upload_head(address: SocketAddr, token: &str, content_length: usize) -> Vec<u8> {
    format!(
        "POST /api/videos/upload HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {content_length}\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_title_is_refused_without_reading_it_and_nothing_is_stored() {
    let (env, app) = embedded(&[("ANB_MAX_FORM_FIELD_BYTES", "1024")]).await;
    let token = app.user("ana@example.com", "Cali").await;
    // The title first, or after the file (whose upload has begun and must be aborted). The
    // request declares a 6 MB title and sends 16 KiB of it: the answer must not wait for
    // the rest.
    for file_first in [false, true] {
        let mut stream = connect(app.address).await;
        stream
            .write_all(&upload_head(app.address, &token, 6_000_000))
            .await
            .unwrap();
        if file_first {
            let mut file = part_head("video_file", true);
            file.extend(fake_mp4(100_000));
            file.extend_from_slice(b"\r\n");
            stream.write_all(&file).await.unwrap();
        }
        let mut title = part_head("title", false);
        title.extend(vec![b'a'; 16 * 1024]);
        stream.write_all(&title).await.unwrap();
        let (status, body) = read_response(&mut stream, Duration::from_secs(30)).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error"], "field_too_large", "{body}");
        assert!(body["message"].as_str().unwrap().contains("1024"), "{body}");
    }
    assert_eq!(env.stored_files().await, Vec::<String>::new());
    let mine: Value = app
        .get("/api/videos", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine, json!([]), "no video was recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_past_the_limit_get_413() {
    let (_env, app) = embedded(&[("ANB_MAX_JSON_BODY_BYTES", "1000")]).await;
    // Declared too large: refused before a byte of it is read.
    let mut stream = connect(app.address).await;
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 50000000\r\n\r\n{{\"email\": \"",
        app.address
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (status, body) = read_response(&mut stream, Duration::from_secs(30)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "body_too_large");
    // Chunked, with no length declared: refused once it passes the limit.
    let big = json!({"email": "a".repeat(5000), "password": "x"}).to_string();
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter([Ok::<
            _,
            std::io::Error,
        >(
            big
        )])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // Within the limit, the route works as before.
    assert_eq!(
        login(&app, "nobody@example.com", "Not-a-pass-1", None)
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_are_cut_off_after_the_header_timeout() {
    let (_env, app) = embedded(&[("ANB_HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let mut stream = connect(app.address).await;
    stream
        .write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                // hyper may say 408 before it closes.
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection is still open after 20 s");
    // A client that sends its headers in time is served as usual.
    assert_eq!(app.get("/health", None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_gets_408_and_nothing_is_stored() {
    let (env, app) = embedded(&[
        ("ANB_BODY_READ_TIMEOUT_SECS", "1"),
        ("ANB_BODY_MIN_BYTES_PER_SEC", "1024"),
    ])
    .await;
    let token = app.user("ana@example.com", "Cali").await;
    let mut stream = connect(app.address).await;
    stream
        .write_all(&upload_head(app.address, &token, 1_000_000))
        .await
        .unwrap();
    let mut start = part_head("title", false);
    start.extend_from_slice(b"My clip\r\n");
    start.extend(part_head("video_file", true));
    start.extend(fake_mp4(64 * 1024));
    stream.write_all(&start).await.unwrap();
    // ... and nothing more: the next window brings no bytes.
    let (status, body) = read_response(&mut stream, Duration::from_secs(30)).await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"], "request_timeout");
    assert_eq!(env.stored_files().await, Vec::<String>::new());

    // A JSON body that trickles in is cut off the same way.
    let mut stream = connect(app.address).await;
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 60\r\n\r\n{{\"email\"",
        app.address
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (status, body) = read_response(&mut stream, Duration::from_secs(30)).await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"], "request_timeout");
}
