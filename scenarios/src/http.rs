//! The load generator's HTTP/1.1 client: one keep-alive connection per user, on hyper's
//! connection API, with nothing between the user and the socket that a measurement does not
//! need.
//!
//! A general client (reqwest, hyper-util's pooled client) parses a URL, looks up a pool and
//! arms a timer per request; a user of a load test talks to one origin over one connection
//! and sends its next request only when the last one has been answered, so that machinery
//! is pure cost (issue 18: it held loadgen at half of wrk's rate per core). Here a user owns
//! a [`Connection`]; a request is written on it at once, or on a new connection when the
//! server closed the old one. TLS (rustls, the platform's roots) is used for `https://`
//! origins. Redirects are not followed and nothing is decompressed: what the target
//! answered is what is measured.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http::header::{HeaderName, HeaderValue};
/// The header names and statuses a caller needs to build requests and read answers.
pub use http::{StatusCode, header};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::record::Failure;

/// The User-Agent of every load request.
pub const USER_AGENT: &str = concat!("aforo-loadgen/", env!("CARGO_PKG_VERSION"));

/// The target of a run: its origin, an optional path prefix, the TLS settings and the
/// per-request timeout. Shared by every user's [`Connection`].
pub struct Target {
    host: String,
    port: u16,
    authority: HeaderValue,
    prefix: String,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    timeout: Duration,
}

impl Target {
    /// Parses `http[s]://host[:port][/prefix]`. Paths of requests are appended to the prefix.
    pub fn new(base: &str, timeout: Duration) -> Result<Arc<Self>, String> {
        let uri: http::Uri = base
            .trim_end_matches('/')
            .parse()
            .map_err(|e| format!("{base:?} is not a URL ({e}); write it as http://host:port"))?;
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(format!(
                    "{base:?} needs a scheme, http:// or https:// (e.g. http://127.0.0.1:8080)"
                ));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{base:?} names no host; write it as http://host:port"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        let tls = if secure {
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| format!("{host:?} is not a TLS server name: {e}"))?;
            Some((tls_connector()?, name))
        } else {
            None
        };
        Ok(Arc::new(Self {
            host: host.to_string(),
            port,
            authority: HeaderValue::from_str(authority.as_str())
                .map_err(|e| format!("{base:?}: {e}"))?,
            prefix: uri.path().trim_end_matches('/').to_string(),
            tls,
            timeout,
        }))
    }

    /// A user's connection to the target; it connects when it first sends.
    pub fn connection(self: &Arc<Self>) -> Connection {
        Connection {
            target: Arc::clone(self),
            sender: None,
            deadline: None,
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("authority", &self.authority)
            .field("prefix", &self.prefix)
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A request to the target: a method, a path (with its query) under the target's prefix,
/// headers and a body. Built by the scenarios; sent by [`Connection::send`].
#[derive(Debug)]
pub struct Request {
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Body,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Body::default(),
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    /// Adds a header. A value that cannot be sent in a header (a control character) is
    /// left out; the target's answer then shows the request as it went.
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION, &format!("Bearer {token}"))
    }

    /// A body with its content type.
    pub fn body(self, content_type: &str, body: impl Into<Body>) -> Self {
        let mut request = self.header(header::CONTENT_TYPE, content_type);
        request.body = body.into();
        request
    }

    /// A `multipart/form-data` body; the file's bytes are sent from where they are, not
    /// copied into the body.
    pub fn multipart(self, form: Multipart) -> Self {
        let content_type = format!("multipart/form-data; boundary={}", form.boundary);
        self.body(&content_type, form.finish())
    }

    /// The bytes of the body.
    pub fn body_len(&self) -> u64 {
        self.body.len
    }
}

/// A request body made of chunks that are sent one after another (e.g. the multipart
/// framing around a shared upload payload).
#[derive(Debug, Default, Clone)]
pub struct Body {
    chunks: VecDeque<Bytes>,
    len: u64,
}

impl Body {
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len() as u64;
            self.chunks.push_back(chunk);
        }
    }

    /// The whole body in one piece.
    #[cfg(test)]
    fn to_bytes(&self) -> Bytes {
        self.chunks
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<u8>>()
            .into()
    }
}

impl From<Bytes> for Body {
    fn from(chunk: Bytes) -> Self {
        let mut body = Body::default();
        body.push(chunk);
        body
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = self.chunks.pop_front();
        if let Some(chunk) = &chunk {
            self.len -= chunk.len() as u64;
        }
        Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// A `multipart/form-data` form (RFC 7578): text fields and files.
#[derive(Debug)]
pub struct Multipart {
    boundary: String,
    body: Body,
}

impl Multipart {
    pub fn new(boundary_seed: u64) -> Self {
        Self {
            boundary: format!("aforo-boundary-{boundary_seed:016x}"),
            body: Body::default(),
        }
    }

    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.part_head(name, None);
        self.body.push(Bytes::from(value.to_string()));
        self.body.push(Bytes::from_static(b"\r\n"));
        self
    }

    pub fn file(mut self, name: &str, file_name: &str, mime: &str, content: Bytes) -> Self {
        self.part_head(name, Some((file_name, mime)));
        self.body.push(content);
        self.body.push(Bytes::from_static(b"\r\n"));
        self
    }

    fn part_head(&mut self, name: &str, file: Option<(&str, &str)>) {
        let mut head = format!(
            "--{}\r\ncontent-disposition: form-data; name=\"{}\"",
            self.boundary,
            quoted(name)
        );
        if let Some((file_name, mime)) = file {
            head.push_str(&format!(
                "; filename=\"{}\"\r\ncontent-type: {mime}",
                quoted(file_name)
            ));
        }
        head.push_str("\r\n\r\n");
        self.body.push(Bytes::from(head));
    }

    fn finish(mut self) -> Body {
        self.body
            .push(Bytes::from(format!("--{}--\r\n", self.boundary)));
        self.body
    }
}

/// A form-data name or file name inside its quotes (RFC 7578 §4.2: quotes and line breaks
/// percent-encoded).
fn quoted(text: &str) -> String {
    text.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// What the target answered: the status, the headers and the whole body.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// A request that got no answer: its kind (what the records keep) and its cause, for a
/// person to read (the health check says it). Building it allocates nothing: the causes
/// are the errors the socket, TLS and hyper gave.
#[derive(Debug)]
pub struct Fault {
    pub kind: Failure,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Io(std::io::Error),
    Http(hyper::Error),
    NotAUri,
    TimedOut(Duration),
    ClosedTwice,
}

impl Fault {
    fn connect(error: std::io::Error) -> Self {
        Fault {
            kind: Failure::Connect,
            cause: Cause::Io(error),
        }
    }

    fn http(kind: Failure, error: hyper::Error) -> Self {
        Fault {
            kind,
            cause: Cause::Http(error),
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Cause::Io(e) => write!(f, "{e}"),
            Cause::Http(e) => {
                write!(f, "{e}")?;
                let mut source = std::error::Error::source(e);
                while let Some(inner) = source {
                    write!(f, ": {inner}")?;
                    source = inner.source();
                }
                Ok(())
            }
            Cause::NotAUri => f.write_str("the request's path is not a valid URI"),
            Cause::TimedOut(after) => write!(f, "no whole answer within {after:?}"),
            Cause::ClosedTwice => f.write_str("the server closed the connection twice"),
        }
    }
}

impl std::error::Error for Fault {}

/// One user's keep-alive connection to the target.
#[derive(Debug)]
pub struct Connection {
    target: Arc<Target>,
    sender: Option<http1::SendRequest<Body>>,
    /// The request timeout, one timer for the connection's life, moved later at each
    /// request. Moving a registered timer later is one compare-and-swap (tokio re-files it
    /// only when its old deadline comes, once per timeout period), where a timer per
    /// request registers and deregisters in the timer wheel. (Measured: no change beyond
    /// the bench's noise, 10.5 against 10.8 µs a request; issue 18.)
    deadline: Option<Pin<Box<Sleep>>>,
}

/// A clone is another connection to the same target, not yet open: users never share one.
impl Clone for Connection {
    fn clone(&self) -> Self {
        self.target.connection()
    }
}

impl Connection {
    /// Sends `request` and reads the whole answer within the target's timeout. A request
    /// that found the kept-alive connection closed by the server before it was written goes
    /// out once more on a new connection; after a failure or a timeout the connection is
    /// dropped (its state is unknown) and the next request opens another.
    pub async fn send(&mut self, request: Request) -> Result<Response, Fault> {
        let request = self.to_http(request)?;
        let due = Instant::now() + self.target.timeout;
        let mut deadline = match self.deadline.take() {
            Some(mut timer) => {
                timer.as_mut().reset(due);
                timer
            }
            None => Box::pin(tokio::time::sleep_until(due)),
        };
        // Boxed: the exchange's future is a kilobyte, which every future that awaits this one
        // (the step's, the scenario's, the Goose transaction's) would otherwise hold and
        // copy when it starts: 4 % of the generator's time (issue 18's profile).
        let mut exchange = Box::pin(self.exchange(request));
        let outcome = std::future::poll_fn(|cx| match exchange.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(Some(result)),
            Poll::Pending => deadline.as_mut().poll(cx).map(|()| None),
        })
        .await;
        drop(exchange);
        self.deadline = Some(deadline);
        match outcome {
            Some(Ok(response)) => Ok(response),
            Some(Err(fault)) => {
                self.sender = None;
                Err(fault)
            }
            None => {
                self.sender = None;
                Err(Fault {
                    kind: Failure::Timeout,
                    cause: Cause::TimedOut(self.target.timeout),
                })
            }
        }
    }

    fn to_http(&self, request: Request) -> Result<http::Request<Body>, Fault> {
        let target = &self.target;
        let mut http = http::Request::new(request.body);
        *http.method_mut() = request.method;
        let path = if target.prefix.is_empty() {
            request.path
        } else {
            format!("{}{}", target.prefix, request.path)
        };
        // A path that is no URI (a scenario's bug, an id with spaces) is not sent.
        *http.uri_mut() = http::Uri::try_from(path).map_err(|_| Fault {
            kind: Failure::Other,
            cause: Cause::NotAUri,
        })?;
        let headers = http.headers_mut();
        headers.insert(header::HOST, target.authority.clone());
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        for (name, value) in request.headers {
            headers.insert(name, value);
        }
        Ok(http)
    }

    async fn exchange(&mut self, mut request: http::Request<Body>) -> Result<Response, Fault> {
        // The first try may find a kept-alive connection the server has closed.
        for fresh in [false, true] {
            if fresh || self.sender.as_ref().is_none_or(|s| s.is_closed()) {
                // Boxed: the TLS handshake's future is kilobytes, and every request's
                // future would carry (and copy) it otherwise.
                self.sender = Some(Box::pin(connect(&self.target)).await?);
            }
            let Some(sender) = self.sender.as_mut() else {
                unreachable!("connected above")
            };
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = read_body(body).await?;
                    return Ok(Response {
                        status: parts.status,
                        headers: parts.headers,
                        body,
                    });
                }
                Err(mut error) => match error.take_message() {
                    // Not written: the connection was closed under it.
                    Some(unsent) if !fresh => {
                        request = unsent;
                        self.sender = None;
                    }
                    _ => return Err(Fault::http(Failure::Other, error.into_error())),
                },
            }
        }
        Err(Fault {
            kind: Failure::Other,
            cause: Cause::ClosedTwice,
        })
    }
}

/// The whole body. Most answers come in one frame, which is kept as it came (no copy, no
/// buffer list).
async fn read_body(mut body: hyper::body::Incoming) -> Result<Bytes, Fault> {
    let mut first = Bytes::new();
    let mut more: Option<Vec<u8>> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame
            .map_err(|e| Fault::http(Failure::Other, e))?
            .into_data()
        else {
            continue; // trailers
        };
        match &mut more {
            Some(all) => all.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => more = Some([&first[..], &data[..]].concat()),
        }
    }
    Ok(more.map_or(first, Bytes::from))
}

/// Opens a connection to the target; its I/O runs on a task of its own until the sender
/// is dropped or the server closes it. (Polling it inside the user's task instead was
/// measured slower, twice: 75k against 88k requests a second with the task's waker, 85k
/// against 95k with the I/O alone holding it; issue 18.)
async fn connect(target: &Target) -> Result<http1::SendRequest<Body>, Fault> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(Fault::connect)?;
    let _ = tcp.set_nodelay(true);
    match &target.tls {
        None => handshake(tcp).await,
        Some((connector, name)) => {
            let tls = connector
                .connect(name.clone(), tcp)
                .await
                .map_err(Fault::connect)?;
            handshake(tls).await
        }
    }
}

async fn handshake<S>(stream: S) -> Result<http1::SendRequest<Body>, Fault>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Fault::http(Failure::Connect, e))?;
    tokio::spawn(async move {
        // Ends when the server closes the connection or the user drops its sender.
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_prefix_and_default_ports() {
        let t = Target::new("http://127.0.0.1:8080/api/", Duration::from_secs(1)).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("127.0.0.1", 8080, "/api")
        );
        assert_eq!(t.authority, "127.0.0.1:8080");
        let t = Target::new("http://[::1]", Duration::from_secs(1)).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("::1", 80, "")
        );
        let e = Target::new("127.0.0.1:8080", Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("http://"), "{e}");
    }

    #[test]
    fn multipart_frames_every_part_and_streams_the_file() {
        let form = Multipart::new(7).text("title", "a \"quoted\" title").file(
            "video_file",
            "aforo.mp4",
            "video/mp4",
            Bytes::from_static(b"MP4DATA"),
        );
        let request = Request::post("/api/videos/upload").multipart(form);
        let body = String::from_utf8(request.body.to_bytes().to_vec()).unwrap();
        let boundary = "aforo-boundary-0000000000000007";
        assert_eq!(
            body,
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"title\"\r\n\r\n\
                 a \"quoted\" title\r\n--{boundary}\r\ncontent-disposition: form-data; \
                 name=\"video_file\"; filename=\"aforo.mp4\"\r\ncontent-type: video/mp4\r\n\r\n\
                 MP4DATA\r\n--{boundary}--\r\n"
            )
        );
        assert_eq!(request.body_len(), body.len() as u64);
        let content_type = &request.headers[0].1;
        assert_eq!(
            content_type,
            &format!("multipart/form-data; boundary={boundary}")
        );
    }
}
