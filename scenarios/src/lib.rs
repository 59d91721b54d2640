//! The scenario catalogue: what aforo's load generator can run against a target.
//!
//! - [`scenario1`]: escenario 1 of the course, the web layer (users, weighted API steps);
//! - [`get`]: one GET, for calibration;
//! - [`file`]: scenarios described in TOML files (any HTTP API, without recompiling);
//! - [`think`]: think time between a user's actions;
//! - [`profile`]: the load shapes (smoke, ramp, sustained, search) and the time scale;
//! - [`contract`]: the target's API details, overridable for other teams' implementations;
//! - [`mp4`]: valid, decodable MP4 payloads of any size, made in-process;
//! - [`record`]: how requests are timed and reported;
//! - [`http`]: the lean HTTP/1.1 client they are sent with (a keep-alive connection per user).
//!
//! Scenarios send HTTP through [`record::Exchange`] and know nothing of Goose, histograms
//! or files: the load generator drives them and records what they report.

pub mod contract;
pub mod file;
pub mod get;
pub mod http;
pub mod mp4;
pub mod profile;
pub mod record;
pub mod scenario1;
pub mod scenario2;
pub mod shard;
pub mod think;

/// A scenario's entry in `loadgen list`.
#[derive(Debug, Clone, Copy)]
pub struct CatalogueEntry {
    pub name: &'static str,
    pub summary: &'static str,
    /// `--param` keys with their defaults and meaning.
    pub params: &'static [(&'static str, &'static str, &'static str)],
}

pub const CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        name: "scenario1",
        summary: "escenario 1, web layer: each user signs up and logs in, then loops over \
                  weighted steps (upload, list_videos, get_video, public_videos, vote, rankings)",
        params: &[
            (
                "upload_size",
                "1MB",
                "size of each uploaded MP4 (a valid, decodable file made in-process)",
            ),
            (
                "weights",
                "upload:10,list_videos:25,get_video:20,public_videos:20,vote:15,rankings:10",
                "relative weights of the steps; name only those that change",
            ),
        ],
    },
    CatalogueEntry {
        name: "scenario2",
        summary: "escenario 2, worker path: video tasks straight into the queue (no web layer); \
                  --size, --concurrency, --mode sustained|saturation, --tasks, --rate R/min, --matrix",
        params: &[],
    },
    CatalogueEntry {
        name: "get",
        summary: "one GET of one path: calibration and quick checks",
        params: &[("path", "/health", "the path to GET")],
    },
];

pub use rundir::parse_size;
