//! An https target: the load goes over TLS, verified against the roots the platform trusts
//! (here the test's own authority, named by SSL_CERT_FILE), and a certificate nobody vouches
//! for stops the run before any load.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{loadgen_with_env, only_run, read_run, requests_by_endpoint, text};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls");

/// An https server on localhost that answers every request with 200 and counts them.
async fn https_server() -> (String, Arc<AtomicUsize>) {
    let certificate = CertificateDer::from_pem_file(format!("{DATA}/server.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{DATA}/server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let answered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&answered);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                        buffer.drain(..end + 4);
                        count.fetch_add(1, Ordering::SeqCst);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if tls.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (url, answered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_target_is_loaded_over_verified_tls() {
    let (url, answered) = https_server().await;
    let out = tempfile::tempdir().unwrap();
    let (args, ca) = (
        format!(
            "run get --host {url} --param path=/ --users 2 --duration 2s --out {}",
            out.path().display()
        ),
        format!("{DATA}/ca.pem"),
    );
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.split_whitespace().collect();
        loadgen_with_env(&args, &[("SSL_CERT_FILE", &ca)])
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let run = read_run(&only_run(out.path()));
    let (requests, errors) = requests_by_endpoint(&run.requests)["get"];
    assert!(requests > 20, "{requests} requests over TLS");
    assert_eq!(errors, 0, "{}", text(&output));
    // Every recorded request reached the server (plus the health check before the run).
    assert!(answered.load(Ordering::SeqCst) as u64 > requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_no_trusted_authority_signed_stops_the_run_before_any_load() {
    let (url, answered) = https_server().await;
    let out = tempfile::tempdir().unwrap();
    let args = format!(
        "run get --host {url} --param path=/ --users 2 --duration 2s --out {}",
        out.path().display()
    );
    // The system's roots only: the test authority is not among them.
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.split_whitespace().collect();
        loadgen_with_env(
            &args,
            &[("SSL_CERT_FILE", "/nonexistent/aforo-no-roots.pem")],
        )
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    // The check says why, in TLS's own words.
    assert!(text(&output).contains("certificate"), "{}", text(&output));
    assert_eq!(answered.load(Ordering::SeqCst), 0);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}
