//! A fleet of three generators, as the ECS fleet runs them but on this machine: one API on
//! loopback, three `loadgen --shard i/3` processes with a shared start, each uploading its
//! run directory to S3 (the moto server); then `analyze --runs-dir s3://…` downloads them
//! and merges the three into one run.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn sibling(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_BIN_EXE_analyze")).with_file_name(name);
    path.is_file().then_some(path)
}

fn skip(what: &str, how: &str) {
    assert!(!in_ci(), "CI=true but {what} is missing: {how}");
    eprintln!("\n*** SKIPPED: {what} is missing ({how}) ***\n");
}

fn aws_env(cmd: &mut Command, moto: &str) {
    cmd.env("AWS_ENDPOINT_URL", moto)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1");
}

struct Api(Child);

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_fleets_runs_in_s3_are_merged_into_one() {
    let (Some(loadgen), Some(target_stack)) = (sibling("loadgen"), sibling("target-stack")) else {
        return skip(
            "loadgen or target-stack",
            "cargo build -p loadgen -p target-stack",
        );
    };
    let Ok(moto) = std::env::var("AFORO_TEST_MOTO_URL") else {
        return skip(
            "the moto server",
            "set AFORO_TEST_MOTO_URL=http://127.0.0.1:PORT",
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let bucket = format!("aforo-fleet-{}", std::process::id());
    let created = Command::new("curl")
        .args(["-fsS", "-X", "PUT", &format!("{moto}/{bucket}")])
        .output()
        .expect("curl");
    assert!(created.status.success(), "create bucket: {created:?}");

    // One API on loopback for the whole fleet.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("http://127.0.0.1:{port}");
    let _api = Api(Command::new(&target_stack)
        .args(["standalone", "--bind", &format!("127.0.0.1:{port}")])
        .env("ANB_DATA_DIR", dir.path().join("api"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let start = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    let start = start
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let runs_url = format!("s3://{bucket}/runs");
    let generators: Vec<Child> = (1..=3)
        .map(|i| {
            let mut cmd = Command::new(&loadgen);
            cmd.args([
                "run",
                "get",
                "--profile",
                "smoke",
                "--duration",
                "3s",
                "--users",
                "7",
            ])
            .args([
                "--host",
                &host,
                "--shard",
                &format!("{i}/3"),
                "--start-at",
                &start,
            ])
            .args(["--upload", &runs_url])
            .arg("--out")
            .arg(dir.path().join(format!("generator-{i}")))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
            aws_env(&mut cmd, &moto);
            cmd.spawn().unwrap()
        })
        .collect();
    let mut shard_requests = 0u64;
    for (i, generator) in generators.into_iter().enumerate() {
        let out = generator.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "generator {}: {}",
            i + 1,
            String::from_utf8_lossy(&out.stderr)
        );
        // Each generator's own count, from its local copy of the run.
        let local = dir.path().join(format!("generator-{}", i + 1));
        let run = std::fs::read_dir(&local)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["shard"]["index"], i as u64 + 1);
        assert_eq!(
            manifest["load_model"]["max_users"],
            [3, 2, 2][i],
            "7 users over 3 generators"
        );
        shard_requests += summary["total"]["requests"]
            .as_u64()
            .expect("summary.total.requests");
    }
    assert!(shard_requests > 0);

    let cache = dir.path().join("cache");
    let mut analyze = Command::new(env!("CARGO_BIN_EXE_analyze"));
    analyze
        .args(["--runs-dir", &runs_url, "--since", "1h", "--json"])
        .env("AFORO_CACHE_DIR", &cache);
    aws_env(&mut analyze, &moto);
    let out = analyze.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let runs = a["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "the three generators are one run: {runs:#?}");
    let run = &runs[0];
    assert!(
        run["run_id"].as_str().unwrap().ends_with("-get-fleet"),
        "{run}"
    );
    assert_eq!(run["requests"].as_u64(), Some(shard_requests));
    assert_eq!(run["load"], "closed, up to 7 users");
    assert_eq!(run["stages"][0]["level"], 7.0);
    let notes = a["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["note"] == "fleet_merged" && n["generators"] == 3),
        "{notes:?}"
    );
    // The three uploads landed in the cache, one directory each.
    let downloaded = std::fs::read_dir(cache.join("runs").join(&bucket).join("runs"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(downloaded, 3);
}
