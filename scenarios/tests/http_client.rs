//! The load client against raw sockets: one connection per user kept alive, a connection
//! the server closed replaced without losing the request, failures told apart by kind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scenarios::http::{Multipart, Request, Target};
use scenarios::record::Failure;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the test server treats a connection.
#[derive(Clone, Copy)]
enum Serve {
    /// Keep-alive; answers every request.
    KeepAlive,
    /// Answers one request, then closes without saying so (an idle timeout on the server).
    OneThenClose,
    /// Reads the request and never answers.
    Silent,
    /// Answers in three chunks (`transfer-encoding: chunked`).
    Chunked,
    /// Keep-alive; answers every request after this long.
    Slow(Duration),
    /// Silent on the first connection, keep-alive on the others.
    SilentOnFirst,
    /// Answers every request with these bytes; closes after them when they say
    /// `connection: close` or are HTTP/1.0.
    Raw(&'static [u8]),
    /// Answers the first request of each connection, then reads the next and closes
    /// without answering it (an idle close racing a request).
    DropSecond,
}

struct Server {
    url: String,
    connections: Arc<AtomicUsize>,
    /// Every request as received (head and body).
    received: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

async fn server(serve: Serve) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (count, log) = (Arc::clone(&connections), Arc::clone(&received));
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let serve = match (serve, count.fetch_add(1, Ordering::SeqCst)) {
                (Serve::SilentOnFirst, 0) => Serve::Silent,
                (Serve::SilentOnFirst, _) => Serve::KeepAlive,
                (serve, _) => serve,
            };
            tokio::spawn(answer(socket, serve, Arc::clone(&log)));
        }
    });
    Server {
        url,
        connections,
        received,
    }
}

async fn answer(mut socket: TcpStream, serve: Serve, log: Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut served_here = 0;
    loop {
        // One whole request: the head, then Content-Length bytes of body.
        let request = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buffer.len() >= end + 4 + length {
                    break buffer.drain(..end + 4 + length).collect::<Vec<u8>>();
                }
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        log.lock().unwrap().push(request);
        match serve {
            Serve::Raw(answer) => {
                if socket.write_all(answer).await.is_err() {
                    return;
                }
                let text = String::from_utf8_lossy(answer).to_ascii_lowercase();
                if text.contains("connection: close") || text.starts_with("http/1.0") {
                    return;
                }
                continue;
            }
            Serve::DropSecond if served_here > 0 => return,
            Serve::DropSecond => {
                served_here += 1;
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if socket.write_all(answer).await.is_err() {
                    return;
                }
                continue;
            }
            Serve::Silent => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
            Serve::Chunked => {
                let answer = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                    3\r\none\r\n";
                let rest = b"3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n";
                let _ = socket.write_all(answer).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                if socket.write_all(rest).await.is_err() {
                    return;
                }
            }
            Serve::KeepAlive | Serve::OneThenClose | Serve::Slow(_) | Serve::SilentOnFirst => {
                if let Serve::Slow(delay) = serve {
                    tokio::time::sleep(delay).await;
                }
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if socket.write_all(answer).await.is_err() {
                    return;
                }
            }
        }
        if let Serve::OneThenClose = serve {
            return;
        }
    }
}

#[tokio::test]
async fn a_user_keeps_one_connection_for_all_its_requests() {
    let server = server(Serve::KeepAlive).await;
    let target = Target::new(&server.url, Duration::from_secs(5)).unwrap();
    let mut connection = target.connection();
    for _ in 0..20 {
        let answer = connection.send(Request::get("/")).await.unwrap();
        assert_eq!(
            (answer.status.as_u16(), &answer.body[..]),
            (200, &b"ok"[..])
        );
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    let first = String::from_utf8_lossy(&server.received.lock().unwrap()[0]).to_string();
    assert!(first.starts_with("GET / HTTP/1.1\r\n"), "{first}");
    assert!(
        first.contains(&format!("host: {}", &server.url[7..])),
        "{first}"
    );
    assert!(first.contains("user-agent: aforo-loadgen/"), "{first}");
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced_and_no_request_is_lost() {
    let server = server(Serve::OneThenClose).await;
    let target = Target::new(&server.url, Duration::from_secs(5)).unwrap();
    let mut connection = target.connection();
    for i in 0..10 {
        // Some sends find the closed connection before hyper has noticed, others after.
        if i % 2 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let answer = connection.send(Request::get(format!("/{i}"))).await;
        assert_eq!(answer.unwrap().status.as_u16(), 200, "request {i}");
    }
    assert_eq!(server.received.lock().unwrap().len(), 10);
    assert_eq!(server.connections.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn a_body_in_several_frames_is_read_whole() {
    let server = server(Serve::Chunked).await;
    let target = Target::new(&server.url, Duration::from_secs(5)).unwrap();
    let mut connection = target.connection();
    for _ in 0..2 {
        let answer = connection.send(Request::get("/")).await.unwrap();
        assert_eq!(&answer.body[..], b"onetwothree");
    }
}

#[tokio::test]
async fn failures_are_told_apart_by_kind() {
    // Nothing listens on a port that was just free.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let target = Target::new(&url, Duration::from_secs(5)).unwrap();
    let refused = target.connection().send(Request::get("/")).await;
    let refused = refused.unwrap_err();
    assert_eq!(refused.kind, Failure::Connect);
    // The cause is there for a person: the socket's own words.
    assert!(refused.to_string().contains("refused"), "{refused}");

    let silent = server(Serve::Silent).await;
    let target = Target::new(&silent.url, Duration::from_millis(200)).unwrap();
    let mut connection = target.connection();
    assert_eq!(
        connection.send(Request::get("/")).await.unwrap_err().kind,
        Failure::Timeout
    );
    // The timed-out connection is not reused: the next request opens another.
    let _ = connection.send(Request::get("/")).await;
    assert_eq!(silent.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_timeout_counts_from_each_request() {
    // Six answers of 100 ms on one connection: 600 ms in all, each well within 300 ms.
    let slow = server(Serve::Slow(Duration::from_millis(100))).await;
    let target = Target::new(&slow.url, Duration::from_millis(300)).unwrap();
    let mut connection = target.connection();
    for i in 0..6 {
        let answer = connection.send(Request::get("/")).await;
        assert_eq!(answer.unwrap().status.as_u16(), 200, "request {i}");
    }

    // After a timeout, the next request has its whole timeout again.
    let recovering = server(Serve::SilentOnFirst).await;
    let target = Target::new(&recovering.url, Duration::from_millis(200)).unwrap();
    let mut connection = target.connection();
    assert_eq!(
        connection.send(Request::get("/")).await.unwrap_err().kind,
        Failure::Timeout
    );
    for i in 0..3 {
        let answer = connection.send(Request::get("/")).await;
        assert_eq!(
            answer.unwrap().status.as_u16(),
            200,
            "request {i} after the timeout"
        );
    }
    assert_eq!(recovering.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_prefix_and_a_multipart_upload_reach_the_server_as_sent() {
    let server = server(Serve::KeepAlive).await;
    let target = Target::new(&format!("{}/api/", server.url), Duration::from_secs(5)).unwrap();
    let payload = bytes::Bytes::from(vec![7u8; 300_000]);
    let form = Multipart::new(1).text("title", "t").file(
        "video_file",
        "a.mp4",
        "video/mp4",
        payload.clone(),
    );
    let request = Request::post("/videos/upload")
        .bearer("tok")
        .multipart(form);
    let sent = request.body_len();
    connection_send(&target, request).await;
    let received = server.received.lock().unwrap()[0].clone();
    let end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
    assert!(
        head.starts_with("post /api/videos/upload http/1.1"),
        "{head}"
    );
    assert!(head.contains("authorization: bearer tok"), "{head}");
    assert!(head.contains(&format!("content-length: {sent}")), "{head}");
    let body = &received[end + 4..];
    assert_eq!(body.len() as u64, sent);
    let at = body.windows(payload.len()).position(|w| w == &payload[..]);
    assert!(at.is_some(), "the file's bytes are in the body, whole");
}

#[tokio::test]
async fn answers_without_a_body_leave_the_connection_ready_for_the_next() {
    // A HEAD's answer names the length of a body it does not carry; a 204 and a 304 carry
    // none. Each is followed on the same connection by a request that must be answered.
    let head = server(Serve::Raw(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")).await;
    let target = Target::new(&head.url, Duration::from_secs(2)).unwrap();
    let mut connection = target.connection();
    for _ in 0..3 {
        let answer = connection
            .send(Request::new(scenarios::http::Method::HEAD, "/"))
            .await
            .unwrap();
        assert_eq!((answer.status.as_u16(), answer.body.len()), (200, 0));
    }
    assert_eq!(head.connections.load(Ordering::SeqCst), 1);

    for raw in [
        &b"HTTP/1.1 204 No Content\r\n\r\n"[..],
        b"HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nnew",
    ] {
        let raw: &'static [u8] = Box::leak(raw.to_vec().into_boxed_slice());
        let server = server(Serve::Raw(raw)).await;
        let target = Target::new(&server.url, Duration::from_secs(2)).unwrap();
        let mut connection = target.connection();
        for _ in 0..3 {
            let answer = connection.send(Request::get("/")).await.unwrap();
            assert!(
                [201, 204, 304].contains(&answer.status.as_u16()),
                "{answer:?}"
            );
            if answer.status.as_u16() == 201 {
                assert_eq!(&answer.body[..], b"new");
            } else {
                assert!(answer.body.is_empty());
            }
        }
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn an_answer_framed_by_the_close_is_read_whole_and_its_connection_not_reused() {
    let server = server(Serve::Raw(
        b"HTTP/1.0 200 OK\r\nx-kind: old\r\n\r\nall of it",
    ))
    .await;
    let target = Target::new(&server.url, Duration::from_secs(2)).unwrap();
    let mut connection = target.connection();
    for _ in 0..2 {
        let answer = connection.send(Request::get("/")).await.unwrap();
        assert_eq!(&answer.body[..], b"all of it");
        assert_eq!(answer.headers["x-kind"], "old");
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn chunk_extensions_and_trailers_are_read_past() {
    let server = server(Serve::Raw(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
          4;name=x\r\nwiki\r\n5\r\npedia\r\n0\r\nexpires: never\r\n\r\n",
    ))
    .await;
    let target = Target::new(&server.url, Duration::from_secs(2)).unwrap();
    let mut connection = target.connection();
    for _ in 0..2 {
        let answer = connection.send(Request::get("/")).await.unwrap();
        assert_eq!(&answer.body[..], b"wikipedia");
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_request_the_server_may_have_acted_on_is_not_sent_twice() {
    // The server reads the second request on a kept-alive connection and closes without
    // answering. A GET (idempotent) goes out again on a new connection; a POST does not,
    // and fails.
    let server = server(Serve::DropSecond).await;
    let target = Target::new(&server.url, Duration::from_secs(2)).unwrap();
    let mut connection = target.connection();
    connection.send(Request::get("/1")).await.unwrap();
    let again = connection.send(Request::get("/2")).await.unwrap();
    assert_eq!(again.status.as_u16(), 200);
    assert_eq!(
        server.received.lock().unwrap().len(),
        3,
        "/2 was sent twice"
    );

    let failed = connection
        .send(Request::post("/3").body("text/plain", "once".to_string()))
        .await
        .unwrap_err();
    assert_eq!(failed.kind, Failure::Other);
    assert!(failed.to_string().contains("without answering"), "{failed}");
    assert_eq!(server.received.lock().unwrap().len(), 4, "/3 was sent once");
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_a_failure_that_says_so() {
    let server = server(Serve::Raw(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")).await;
    let target = Target::new(&server.url, Duration::from_secs(2)).unwrap();
    let fault = target
        .connection()
        .send(Request::get("/"))
        .await
        .unwrap_err();
    assert_eq!(fault.kind, Failure::Other);
    assert!(fault.to_string().contains("not HTTP/1.1"), "{fault}");
}

async fn connection_send(target: &Arc<Target>, request: Request) {
    let answer = target.connection().send(request).await.unwrap();
    assert_eq!(answer.status.as_u16(), 200);
}
