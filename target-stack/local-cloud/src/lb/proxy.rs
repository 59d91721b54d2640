//! Forwarding one client request to a target, as an ALB HTTP listener's forward action does.
//!
//! Method, path, query, headers and body go through unchanged, except that hop-by-hop
//! headers (`Connection` and the headers it names, `Keep-Alive`, `TE`, `Trailer`,
//! `Transfer-Encoding`, `Upgrade`, `Proxy-*`) are dropped both ways, and the request gets
//! `X-Forwarded-For` (the client's address appended to any it sent, ALB's `append` mode),
//! `X-Forwarded-Proto: http` and `X-Forwarded-Port` (the listener's port). The `Host` header
//! is kept. Bodies stream (see `body`).
//!
//! Answers the balancer makes itself, with ALB's status lines and an HTML body like ALB's:
//! 503 when no target is routable, 502 when the target refuses the connection, resets it or
//! closes it before a response head, 504 when nothing moves for the idle timeout before the
//! response head. Not imitated: `X-Amzn-Trace-Id`, WebSocket upgrades, HTTP/2 to clients,
//! ALB's 460/463 bookkeeping (a client that goes away mid-request just ends it, counted in
//! no error metric).

use std::convert::Infallible;
use std::error::Error as StdError;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, CONTENT_TYPE, HeaderName, HeaderValue, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION,
    SERVER, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use hyper::http::uri::{self, PathAndQuery, Scheme};
use hyper::{HeaderMap, Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{self, Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

use super::Shared;
use super::body::{Exchange, LbBody, ProxiedBody, UpstreamBody};
use super::config::LbConfig;
use super::metrics::Counters;
use super::registry::Target;

pub(super) type UpstreamClient = Client<HttpConnector, UpstreamBody>;

/// ALB gives up connecting to a target after 10 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// Pooled keep-alive connections to the targets, closed after the idle timeout like ALB's.
pub(super) fn upstream_client(config: &LbConfig) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    // Nagle's algorithm would add tens of milliseconds to measured latencies.
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT.min(config.idle_timeout)));
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(config.idle_timeout)
        .build(connector)
}

/// Routes `request` from `client` to a target and streams its answer back.
pub(super) async fn forward(
    shared: Arc<Shared>,
    client: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<LbBody>, Infallible> {
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    parts.version = Version::HTTP_11;
    remove_hop_by_hop(&mut parts.headers);
    add_forwarded_headers(&mut parts.headers, client, shared.address.port());

    let chosen = shared.registry().choose(shared.config.algorithm);
    let Some(in_flight) = chosen else {
        return Ok(elb_response(
            &shared.counters,
            StatusCode::SERVICE_UNAVAILABLE,
        ));
    };
    let target = in_flight.target();
    parts.uri = target_uri(target, path);
    let exchange = Exchange::new();
    let upstream = Request::from_parts(parts, UpstreamBody::new(body, Arc::clone(&exchange)));

    let idle_timeout = shared.config.idle_timeout;
    let sent_at = Instant::now();
    let head = response_head(shared.upstream.request(upstream), &exchange, idle_timeout).await;
    match head {
        Some(Ok(response)) => {
            shared
                .counters
                .target_responded(response.status(), sent_at.elapsed());
            let (mut parts, body) = response.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            let body = ProxiedBody::new(body, exchange, idle_timeout, in_flight);
            Ok(Response::from_parts(parts, LbBody::Proxied(body)))
        }
        Some(Err(error)) if exchange.client_body_failed() => {
            tracing::debug!(error = %causes(&error), "client went away mid-request");
            let mut response = Response::new(LbBody::local(String::new()));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            Ok(response)
        }
        Some(Err(error)) => {
            tracing::debug!(
                target_id = target.id,
                addr = %target.addr,
                error = %causes(&error),
                "target failed the request"
            );
            Ok(elb_response(&shared.counters, StatusCode::BAD_GATEWAY))
        }
        None => Ok(elb_response(&shared.counters, StatusCode::GATEWAY_TIMEOUT)),
    }
}

/// The target's response head, or None when nothing moved for `idle_timeout` first.
async fn response_head(
    response: ResponseFuture,
    exchange: &Exchange,
    idle_timeout: Duration,
) -> Option<Result<Response<Incoming>, legacy::Error>> {
    tokio::pin!(response);
    loop {
        tokio::select! {
            biased;
            result = &mut response => return Some(result),
            () = tokio::time::sleep_until(exchange.idle_deadline(idle_timeout)) => {
                // The request body may have moved meanwhile; the loop then waits on.
                if exchange.idle_deadline(idle_timeout) <= Instant::now() {
                    return None;
                }
            }
        }
    }
}

fn target_uri(target: &Target, path: PathAndQuery) -> Uri {
    let mut parts = uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(target.authority.clone());
    parts.path_and_query = Some(path);
    Uri::from_parts(parts).expect("scheme, authority and path make a URI")
}

/// Drops the headers that belong to one connection rather than to the message.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named_by_connection: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named_by_connection {
        headers.remove(name);
    }
    let standard = [
        CONNECTION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
        PROXY_AUTHENTICATE,
        PROXY_AUTHORIZATION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ];
    for name in standard {
        headers.remove(name);
    }
}

fn add_forwarded_headers(headers: &mut HeaderMap, client: SocketAddr, listener_port: u16) {
    let client_ip = client.ip().to_string();
    let earlier: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let forwarded_for = if earlier.is_empty() {
        client_ip.clone()
    } else {
        format!("{}, {client_ip}", earlier.join(", "))
    };
    let forwarded_for = HeaderValue::try_from(forwarded_for)
        .or_else(|_| HeaderValue::try_from(client_ip))
        .expect("an IP address is a valid header value");
    headers.insert(X_FORWARDED_FOR.clone(), forwarded_for);
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    headers.insert(X_FORWARDED_PORT.clone(), HeaderValue::from(listener_port));
}

/// An answer made by the balancer itself, counted as `HTTPCode_ELB_<status>_Count`.
fn elb_response(counters: &Counters, status: StatusCode) -> Response<LbBody> {
    counters.elb_answered(status);
    // ALB's wording, which differs from the IANA reason phrases for these two.
    let reason = match status {
        StatusCode::SERVICE_UNAVAILABLE => "Service Temporarily Unavailable",
        StatusCode::GATEWAY_TIMEOUT => "Gateway Time-out",
        other => other.canonical_reason().unwrap_or("Error"),
    };
    let code = status.as_u16();
    let html = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n\
         <center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = Response::new(LbBody::local(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    headers.insert(SERVER, HeaderValue::from_static("aforo-lb"));
    response
}

/// An error and its sources on one line: hyper's own messages are terse ("client error
/// (Connect)") and the cause is in the chain.
fn causes(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_including_those_named_by_connection() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Hop"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert("x-end-to-end", HeaderValue::from_static("kept"));
        headers.insert("content-length", HeaderValue::from_static("3"));
        remove_hop_by_hop(&mut headers);
        let mut left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-length", "x-end-to-end"]);
    }

    #[test]
    fn forwarded_for_appends_the_client_and_proto_and_port_are_set() {
        let client: SocketAddr = "127.0.0.7:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        add_forwarded_headers(&mut headers, client, 8080);
        assert_eq!(headers[&X_FORWARDED_FOR], "127.0.0.7");
        assert_eq!(headers[&X_FORWARDED_PROTO], "http");
        assert_eq!(headers[&X_FORWARDED_PORT], "8080");

        let mut headers = HeaderMap::new();
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.1"));
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.2"));
        headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        add_forwarded_headers(&mut headers, client, 80);
        assert_eq!(
            headers[&X_FORWARDED_FOR],
            "203.0.113.1, 198.51.100.2, 127.0.0.7"
        );
        assert_eq!(headers.get_all(&X_FORWARDED_FOR).iter().count(), 1);
        assert_eq!(headers[&X_FORWARDED_PROTO], "http");
    }

    #[test]
    fn balancer_answers_are_counted_and_worded_like_alb() {
        let counters = Counters::default();
        let response = elb_response(&counters, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        let LbBody::Local(body) = response.into_body() else {
            panic!("a balancer answer has a local body")
        };
        let text = format!("{body:?}");
        assert!(text.contains("504 Gateway Time-out"), "{text}");
        let window = counters.take(Default::default(), Vec::new(), 0);
        assert_eq!(window.elb_504_count, 1);
        assert_eq!(window.request_count, 0);
    }
}
