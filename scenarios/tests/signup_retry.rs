//! Escenario 1's setup against a scripted HTTP server: a signup retried after a failure
//! that left the account behind is not a failure of the target.

use std::sync::Mutex;
use std::time::Duration;

use scenarios::contract::Contract;
use scenarios::http::Target;
use scenarios::record::{Exchange, Recorder, RequestRecord};
use scenarios::scenario1::{Scenario1, User, Weights};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Default)]
struct Collected(Mutex<Vec<RequestRecord>>);

impl Recorder for Collected {
    fn record(&self, record: RequestRecord) {
        self.0.lock().unwrap().push(record);
    }
    fn skip(&self, _: &'static str, _: &'static str) {}
}

/// Answers each connection's one request with the next scripted answer, in order.
async fn scripted(answers: Vec<(u16, &'static str)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        for (status, body) in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then the body by Content-Length.
            loop {
                let n = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        }
    });
    url
}

async fn two_setups(retry_signup: (u16, &'static str)) -> Vec<RequestRecord> {
    let url = scripted(vec![
        // The first signup created the account but answered 500; the login failed too.
        (500, r#"{"error":"internal","message":"internal error"}"#),
        (503, r#"{"error":"busy","message":"try again"}"#),
        retry_signup,
        (
            200,
            r#"{"access_token":"t","token_type":"Bearer","expires_in":60}"#,
        ),
    ])
    .await;
    let scenario = Scenario1::new(
        Contract::default(),
        Weights::default(),
        bytes::Bytes::new(),
        "t",
    );
    let target = Target::new(&url, Duration::from_secs(5)).unwrap();
    let mut connection = target.connection();
    let recorder = Collected::default();
    let mut user = User::new(0);
    for _ in 0..2 {
        let mut ex = Exchange::new(&mut connection, &recorder, None);
        scenario.setup(&mut ex, &mut user).await;
    }
    assert!(user.is_logged_in());
    recorder.0.into_inner().unwrap()
}

#[tokio::test]
async fn a_retried_signup_that_finds_its_account_is_a_success() {
    let records = two_setups((
        400,
        r#"{"error":"email_taken","message":"an account with aforo.t.0@example.com already exists"}"#,
    ))
    .await;
    let outcomes: Vec<_> = records.iter().map(|r| (r.endpoint, r.success)).collect();
    assert_eq!(
        outcomes,
        [
            ("signup", false),
            ("login", false),
            ("signup", true),
            ("login", true)
        ]
    );
}

#[tokio::test]
async fn a_retried_signup_refused_for_another_reason_is_still_an_error() {
    let records = two_setups((
        400,
        r#"{"error":"weak_password","message":"the password is too common"}"#,
    ))
    .await;
    assert!(!records[2].success, "{:?}", records[2]);
}
