//! The one place that sets up tracing for the binary.
//!
//! `RUST_LOG` filters (default `info`); `ANB_LOG_FORMAT=json` switches to JSON lines, which
//! is what a log shipper on an instance wants. Logs go to stderr so stdout stays free for
//! commands that print documents (`target-stack openapi`).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,aws_config=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if std::env::var("ANB_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber; that is fine.
    drop(result);
}
