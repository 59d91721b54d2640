//! The load generator's HTTP/1.1 client: one keep-alive connection per user, written and
//! read by the user's own task, with nothing between the user and the socket that a
//! measurement does not need.
//!
//! A general client (reqwest, hyper-util's pooled client) parses a URL, looks up a pool and
//! arms a timer per request, and hyper's connection API runs each connection on a task of
//! its own, reached through a channel; a user of a load test talks to one origin over one
//! connection and sends its next request only when the last one has been answered, so that
//! machinery is pure cost (issue 18: it held loadgen at 0.7 × wrk per core). Here a user
//! owns a [`Connection`]: its request is written at once, its answer's head is parsed by
//! `httparse` in place, and its body is framed by `Content-Length`, chunks or the
//! connection's end (RFC 9112 §6). TLS (rustls, the platform's roots) is used for
//! `https://` origins. Redirects are not followed and nothing is decompressed: what the
//! target answered is what is measured.

use std::collections::VecDeque;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf as _, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
/// The header names and statuses a caller needs to build requests and read answers.
pub use http::{Method, StatusCode, header};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

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
            wire: None,
            head: Vec::new(),
            deadline: None,
        }
    }

    /// Writes `request`'s head (request line and header section, RFC 9112 §3 and §5) into
    /// `head`. A path that is no request target (a scenario's bug, an id with spaces) is
    /// not sent.
    fn write_head(&self, request: &Request, head: &mut Vec<u8>) -> Result<(), Fault> {
        let path = request.path.as_bytes();
        if path.is_empty() || !path.iter().all(|b| (0x21..0x7f).contains(b)) {
            return Err(Fault {
                kind: Failure::Other,
                cause: Cause::NotAUri,
            });
        }
        head.extend_from_slice(request.method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(self.prefix.as_bytes());
        head.extend_from_slice(path);
        head.extend_from_slice(b" HTTP/1.1\r\n");
        let given = |name: &HeaderName| request.headers.iter().any(|(n, _)| n == name);
        if !given(&header::HOST) {
            field(head, header::HOST.as_str(), self.authority.as_bytes());
        }
        if !given(&header::USER_AGENT) {
            field(head, header::USER_AGENT.as_str(), USER_AGENT.as_bytes());
        }
        for (name, value) in &request.headers {
            if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
                field(head, name.as_str(), value.as_bytes());
            }
        }
        let body_expected = matches!(request.method, Method::POST | Method::PUT | Method::PATCH);
        if request.body.len > 0 || body_expected {
            let _ = write!(head, "content-length: {}\r\n", request.body.len);
        }
        head.extend_from_slice(b"\r\n");
        Ok(())
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

/// A header field line.
fn field(head: &mut Vec<u8>, name: &str, value: &[u8]) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
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

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Timeout,
    Other,
    /// Never sent: the arrival was due, but the run stopped before a slot took it.
    Unsent,
}

/// A request that got no answer: its kind (what the records keep) and its cause, for a
/// person to read (the health check says it). Building it allocates nothing: the causes
/// are the errors the socket and TLS gave, or fixed words.
#[derive(Debug)]
pub struct Fault {
    pub kind: Failure,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Io(std::io::Error),
    /// The answer broke HTTP/1.1 (what is wrong with it).
    Protocol(&'static str),
    Parse(httparse::Error),
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

    fn io(error: std::io::Error) -> Self {
        Fault {
            kind: Failure::Other,
            cause: Cause::Io(error),
        }
    }

    fn protocol(what: &'static str) -> Self {
        Fault {
            kind: Failure::Other,
            cause: Cause::Protocol(what),
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Cause::Io(e) => write!(f, "{e}"),
            Cause::Protocol(what) => f.write_str(what),
            Cause::Parse(e) => write!(f, "the answer's head is not HTTP/1.1: {e}"),
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
    wire: Option<Wire>,
    /// The request head is written here; kept to reuse its allocation.
    head: Vec<u8>,
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
    /// that found the kept-alive connection closed by the server goes out once more on a
    /// new connection (see [`Connection::exchange`]); after a failure or a timeout the
    /// connection is dropped (its state is unknown) and the next request opens another.
    pub async fn send(&mut self, request: Request) -> Result<Response, Fault> {
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        self.target.write_head(&request, &mut head)?;
        let due = Instant::now() + self.target.timeout;
        let mut deadline = match self.deadline.take() {
            Some(mut timer) => {
                timer.as_mut().reset(due);
                timer
            }
            None => Box::pin(tokio::time::sleep_until(due)),
        };
        // Boxed: the exchange's future is large, and every future that awaits this one
        // (the step's, the scenario's, the Goose transaction's) would otherwise hold and
        // copy it when it starts (issue 18's profile).
        let mut exchange = Box::pin(self.exchange(&mut head, &request));
        let outcome = std::future::poll_fn(|cx| match exchange.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(Some(result)),
            Poll::Pending => deadline.as_mut().poll(cx).map(|()| None),
        })
        .await;
        drop(exchange);
        self.deadline = Some(deadline);
        self.head = head;
        match outcome {
            Some(Ok(response)) => Ok(response),
            Some(Err(fault)) => {
                self.wire = None;
                Err(fault)
            }
            None => {
                self.wire = None;
                Err(Fault {
                    kind: Failure::Timeout,
                    cause: Cause::TimedOut(self.target.timeout),
                })
            }
        }
    }

    /// One request on the kept-alive connection, or on a new one. A server closes an idle
    /// connection when it likes (RFC 9112 §9.6); a request that meets such a close on a
    /// reused connection goes out once more, on a new connection, when the server cannot
    /// have acted on it: its writing failed, or it is idempotent and no byte of an answer
    /// came (RFC 9110 §9.2.2).
    async fn exchange(&mut self, head: &mut Vec<u8>, request: &Request) -> Result<Response, Fault> {
        for fresh in [false, true] {
            if fresh || self.wire.as_mut().is_none_or(|wire| !wire.is_idle()) {
                // Boxed: the TLS handshake's future is kilobytes, and every request's
                // future would carry (and copy) it otherwise.
                self.wire = Some(Box::pin(Wire::connect(&self.target)).await?);
            }
            let Some(wire) = self.wire.as_mut() else {
                unreachable!("connected above")
            };
            let reused = wire.answers > 0;
            match wire.exchange(head, request).await {
                Ok(response) => {
                    if !response.keep_alive {
                        self.wire = None;
                    }
                    return Ok(response.response);
                }
                Err(Failed::Unanswered(fault)) if reused && !fresh => {
                    if !fault.written || request.method.is_idempotent() {
                        self.wire = None;
                        continue;
                    }
                    return Err(fault.fault);
                }
                Err(Failed::Unanswered(fault)) => return Err(fault.fault),
                Err(Failed::Broken(fault)) => return Err(fault),
            }
        }
        Err(Fault {
            kind: Failure::Other,
            cause: Cause::ClosedTwice,
        })
    }
}

/// An open connection: the socket and what has been read from it and not yet parsed.
///
/// The user's own task writes the request and reads the answer: no connection task, no
/// channel between them, and one wake-up per answer (issue 18: hyper's connection task
/// and its dispatch were a third of the generator's own time per request).
struct Wire {
    stream: Stream,
    read: BytesMut,
    /// Answers read on this connection.
    answers: u64,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("tls", &matches!(self.stream, Stream::Tls(_)))
            .field("answers", &self.answers)
            .finish()
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// How an exchange failed: before any byte of an answer came (the request may go out
/// again, see [`Connection::exchange`]), or later.
enum Failed {
    Unanswered(Unanswered),
    Broken(Fault),
}

struct Unanswered {
    fault: Fault,
    /// The whole request was written.
    written: bool,
}

/// An answer and whether its connection may carry another request.
struct Answer {
    response: Response,
    keep_alive: bool,
}

/// Reads below this much free room in the buffer first make room for this much more.
const READ_ROOM: usize = 8 * 1024;
/// An answer's head larger than this is refused (nginx's default for requests is 8 KiB).
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
/// Bodies up to this size are written with the head, in one write.
const BODY_WITH_HEAD: u64 = 16 * 1024;
/// An answer's body larger than this is refused: a load test measures, it does not store.
const MAX_BODY: usize = 1 << 30;

impl Wire {
    async fn connect(target: &Target) -> Result<Wire, Fault> {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(Fault::connect)?;
        let _ = tcp.set_nodelay(true);
        let stream = match &target.tls {
            None => Stream::Plain(tcp),
            Some((connector, name)) => Stream::Tls(Box::new(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(Fault::connect)?,
            )),
        };
        Ok(Wire {
            stream,
            read: BytesMut::with_capacity(READ_ROOM),
            answers: 0,
        })
    }

    /// Between requests the server has nothing to say: a connection it closed (or wrote
    /// on) is not reused. Costs no system call while the socket has had no event.
    fn is_idle(&mut self) -> bool {
        if !self.read.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(&mut self.stream)
            .poll_read(&mut cx, &mut probe)
            .is_pending()
    }

    async fn exchange(&mut self, head: &mut Vec<u8>, request: &Request) -> Result<Answer, Failed> {
        if let Err(error) = self.write(head, &request.body).await {
            // A server may answer before it has read the whole request (a 413 for an
            // upload too large) and close: that answer is what the request got.
            return match self.read_answer(request.method == Method::HEAD).await {
                Ok(answer) => Ok(answer),
                Err(_) => Err(Failed::Unanswered(Unanswered {
                    fault: Fault::io(error),
                    written: false,
                })),
            };
        }
        self.read_answer(request.method == Method::HEAD)
            .await
            .map_err(|(fault, any_byte)| {
                if any_byte {
                    Failed::Broken(fault)
                } else {
                    Failed::Unanswered(Unanswered {
                        fault,
                        written: true,
                    })
                }
            })
    }

    async fn write(&mut self, head: &mut Vec<u8>, body: &Body) -> std::io::Result<()> {
        if body.len <= BODY_WITH_HEAD {
            for chunk in &body.chunks {
                head.extend_from_slice(chunk);
            }
            self.stream.write_all(head).await?;
        } else {
            self.stream.write_all(head).await?;
            for chunk in &body.chunks {
                self.stream.write_all(chunk).await?;
            }
        }
        self.stream.flush().await
    }

    /// Reads one answer (after any 1xx interim answers). The error says whether any byte
    /// of the answer had come.
    async fn read_answer(&mut self, head_request: bool) -> Result<Answer, (Fault, bool)> {
        let mut any_byte = !self.read.is_empty();
        let fail = |fault: Fault, any_byte: bool| (fault, any_byte);
        loop {
            let parsed = parse_head(&mut self.read).map_err(|f| fail(f, true))?;
            let Some(head) = parsed else {
                if self.read.len() > MAX_HEAD {
                    return Err(fail(
                        Fault::protocol("the answer's head is over 64 KiB"),
                        true,
                    ));
                }
                match self.fill().await {
                    Ok(0) if any_byte => {
                        return Err(fail(
                            Fault::protocol("the server closed the connection mid-answer"),
                            true,
                        ));
                    }
                    Ok(0) => {
                        return Err(fail(
                            Fault::protocol("the server closed the connection without answering"),
                            false,
                        ));
                    }
                    Ok(_) => any_byte = true,
                    Err(e) => return Err(fail(Fault::io(e), any_byte)),
                }
                continue;
            };
            if head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS {
                continue;
            }
            let no_body = head_request
                || head.status.is_informational()
                || head.status == StatusCode::NO_CONTENT
                || head.status == StatusCode::NOT_MODIFIED;
            // After 101 the connection speaks another protocol: never reused for HTTP.
            let mut keep_alive = head.keep_alive && head.status != StatusCode::SWITCHING_PROTOCOLS;
            let body = if no_body {
                Bytes::new()
            } else if head.chunked {
                self.read_chunked().await.map_err(|f| fail(f, true))?
            } else if let Some(length) = head.length {
                self.read_exact_body(length)
                    .await
                    .map_err(|f| fail(f, true))?
            } else {
                // Framed by the connection's end (RFC 9112 §6.3, point 8).
                keep_alive = false;
                self.read_to_end().await.map_err(|f| fail(f, true))?
            };
            self.answers += 1;
            return Ok(Answer {
                response: Response {
                    status: head.status,
                    headers: head.headers,
                    body,
                },
                keep_alive,
            });
        }
    }

    /// Reads more into the buffer; 0 at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.read.capacity() - self.read.len() < READ_ROOM / 2 {
            self.read.reserve(READ_ROOM);
        }
        self.stream.read_buf(&mut self.read).await
    }

    async fn fill_or_fail(&mut self) -> Result<(), Fault> {
        match self.fill().await {
            Ok(0) => Err(Fault::protocol(
                "the server closed the connection mid-answer",
            )),
            Ok(_) => Ok(()),
            Err(e) => Err(Fault::io(e)),
        }
    }

    async fn read_exact_body(&mut self, length: u64) -> Result<Bytes, Fault> {
        let length = usize::try_from(length)
            .ok()
            .filter(|&length| length <= MAX_BODY)
            .ok_or_else(|| Fault::protocol("the answer's body is over 1 GiB"))?;
        if self.read.len() < length {
            // Room for the whole body at once (a video is tens of megabytes), but not on a
            // length's word alone beyond what is likely to come.
            self.read.reserve((length - self.read.len()).min(64 << 20));
        }
        while self.read.len() < length {
            self.fill_or_fail().await?;
        }
        Ok(self.read.split_to(length).freeze())
    }

    async fn read_chunked(&mut self) -> Result<Bytes, Fault> {
        let mut body = BytesMut::new();
        loop {
            let (line, size) = loop {
                match httparse::parse_chunk_size(&self.read) {
                    Ok(httparse::Status::Complete(found)) => break found,
                    Ok(httparse::Status::Partial) => self.fill_or_fail().await?,
                    Err(_) => return Err(Fault::protocol("a chunk's size line is malformed")),
                }
            };
            if size == 0 {
                self.read.advance(line);
                return self.skip_trailers().await.map(|()| body.freeze());
            }
            let size = usize::try_from(size)
                .ok()
                .filter(|&size| body.len() + size <= MAX_BODY)
                .ok_or_else(|| Fault::protocol("the answer's body is over 1 GiB"))?;
            while self.read.len() < line + size + 2 {
                self.fill_or_fail().await?;
            }
            if &self.read[line + size..line + size + 2] != b"\r\n" {
                return Err(Fault::protocol("a chunk does not end in CRLF"));
            }
            body.extend_from_slice(&self.read[line..line + size]);
            self.read.advance(line + size + 2);
        }
    }

    /// The trailer section after the last chunk, up to its empty line; its fields are not
    /// kept.
    async fn skip_trailers(&mut self) -> Result<(), Fault> {
        loop {
            if let Some(end) = self.read.windows(2).position(|w| w == b"\r\n") {
                self.read.advance(end + 2);
                if end == 0 {
                    return Ok(());
                }
                continue;
            }
            if self.read.len() > MAX_HEAD {
                return Err(Fault::protocol("the answer's trailers are over 64 KiB"));
            }
            self.fill_or_fail().await?;
        }
    }

    async fn read_to_end(&mut self) -> Result<Bytes, Fault> {
        loop {
            match self.fill().await {
                Ok(0) => return Ok(self.read.split().freeze()),
                Ok(_) if self.read.len() > MAX_BODY => {
                    return Err(Fault::protocol("the answer's body is over 1 GiB"));
                }
                Ok(_) => {}
                Err(e) => return Err(Fault::io(e)),
            }
        }
    }
}

/// An answer's head, parsed.
struct Head {
    status: StatusCode,
    headers: http::HeaderMap,
    /// `Content-Length`, when the body is framed by it.
    length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
}

/// Parses the answer's head at the start of `read` and takes it off; `None` until it has
/// all come. Header values are slices of the read buffer, not copies.
fn parse_head(read: &mut BytesMut) -> Result<Option<Head>, Fault> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut fields);
    let size = match parsed.parse(read) {
        Ok(httparse::Status::Complete(size)) => size,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(Fault {
                kind: Failure::Other,
                cause: Cause::Parse(e),
            });
        }
    };
    let status = parsed
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| Fault::protocol("the answer's status code is out of range"))?;
    // HTTP/1.0 closes after each answer unless it says otherwise; HTTP/1.1 keeps open.
    let mut keep_alive = parsed.version == Some(1);
    let base = read.as_ptr() as usize;
    // Where each field lies in the buffer: the buffer is frozen below, and the values are
    // cut from it.
    let mut spans = [(0usize, 0usize, 0usize, 0usize); MAX_HEADERS];
    let count = parsed.headers.len();
    for (span, field) in spans.iter_mut().zip(parsed.headers.iter()) {
        let name_at = field.name.as_ptr() as usize - base;
        let value_at = field.value.as_ptr() as usize - base;
        *span = (
            name_at,
            name_at + field.name.len(),
            value_at,
            value_at + field.value.len(),
        );
    }
    let head = read.split_to(size).freeze();
    let mut headers = http::HeaderMap::with_capacity(count);
    let mut length = None;
    let mut chunked = false;
    for &(name_at, name_end, value_at, value_end) in &spans[..count] {
        let name = HeaderName::from_bytes(&head[name_at..name_end])
            .map_err(|_| Fault::protocol("the answer has a header with an invalid name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(value_at..value_end))
            .map_err(|_| Fault::protocol("the answer has a header with an invalid value"))?;
        if name == header::CONTENT_LENGTH {
            let parsed = std::str::from_utf8(value.as_bytes())
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| Fault::protocol("the answer's content-length is not a number"))?;
            if length.is_some_and(|l| l != parsed) {
                return Err(Fault::protocol(
                    "the answer has two different content-lengths",
                ));
            }
            length = Some(parsed);
        } else if name == header::TRANSFER_ENCODING {
            chunked = has_token(value.as_bytes(), b"chunked");
        } else if name == header::CONNECTION {
            if has_token(value.as_bytes(), b"close") {
                keep_alive = false;
            } else if has_token(value.as_bytes(), b"keep-alive") {
                keep_alive = true;
            }
        }
        headers.append(name, value);
    }
    Ok(Some(Head {
        status,
        headers,
        length: if chunked { None } else { length },
        chunked,
        keep_alive,
    }))
}

/// `list` (a comma-separated header value) holds `token`, in any case.
fn has_token(list: &[u8], token: &[u8]) -> bool {
    list.split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token))
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
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
