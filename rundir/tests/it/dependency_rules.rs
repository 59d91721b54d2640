//! The workspace's dependency rules as a checked fact (ARCHITECTURE.md, "Invariants"): which
//! workspace crate may use which, and that no crate's folder sits inside another's. It
//! reads `cargo metadata`, so a new `[dependencies]` line that breaks a rule fails here with
//! the rule it breaks. It lives in rundir, the crate at the bottom of the graph, because
//! every other crate depends on it and its tests build first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each workspace crate and the workspace crates it may depend on (any kind: normal, build
/// or dev). The direction is the design: the load generator and the analyzer share only the
/// run-directory types and the capacity model; the system under test knows nothing of how
/// it is measured; the local cloud hosts it as AWS would, knowing it only through a binary to
/// launch and the `HostedApp` readings; reports render an analysis and know nothing of the
/// target.
const ALLOWED: &[(&str, &[&str])] = &[
    ("rundir", &[]),
    ("capacity-model", &["rundir"]),
    ("aforo-policy", &["rundir"]),
    ("scenarios", &["rundir"]),
    ("reports", &["capacity-model", "rundir"]),
    ("aforo-infra", &["aforo-policy"]),
    (
        "loadgen",
        &["aforo-infra", "capacity-model", "rundir", "scenarios"],
    ),
    (
        "analyzer",
        &[
            "aforo-infra",
            "aforo-policy",
            "capacity-model",
            "reports",
            "rundir",
        ],
    ),
    ("local-cloud", &["aforo-policy", "rundir"]),
    ("target-stack", &["local-cloud", "rundir"]),
];

struct Package {
    name: String,
    dir: PathBuf,
    /// Workspace crates it depends on, with the kind of dependency.
    uses: Vec<(String, String)>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn packages() -> Vec<Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let names: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    packages
        .iter()
        .map(|p| Package {
            name: p["name"].as_str().unwrap().to_string(),
            dir: Path::new(p["manifest_path"].as_str().unwrap())
                .parent()
                .unwrap()
                .to_path_buf(),
            uses: p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| names.contains(&d["name"].as_str().unwrap()))
                // A dev-dependency on itself turns a feature on for its own tests.
                .filter(|d| d["name"] != p["name"])
                .map(|d| {
                    (
                        d["name"].as_str().unwrap().to_string(),
                        d["kind"].as_str().unwrap_or("normal").to_string(),
                    )
                })
                .collect(),
        })
        .collect()
}

#[test]
fn every_workspace_crate_depends_only_on_the_crates_its_rule_allows() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut broken = Vec::new();
    for package in packages() {
        let Some(may_use) = allowed.get(package.name.as_str()) else {
            broken.push(format!(
                "{} has no rule: add it to ALLOWED with the crates it may use",
                package.name
            ));
            continue;
        };
        for (used, kind) in &package.uses {
            if !may_use.contains(&used.as_str()) {
                broken.push(format!("{} depends on {used} ({kind})", package.name));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "dependencies the architecture forbids (ARCHITECTURE.md, Invariants):\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_crates_folder_sits_inside_another_crates() {
    let root = workspace();
    let dirs: Vec<PathBuf> = packages().into_iter().map(|p| p.dir).collect();
    let mut nested = Vec::new();
    for inner in &dirs {
        for outer in &dirs {
            if inner != outer && inner.starts_with(outer) {
                let relative = inner.strip_prefix(&root).unwrap_or(inner);
                nested.push(relative.display().to_string());
            }
        }
    }
    nested.sort();
    assert!(
        nested.is_empty(),
        "crate folders inside another crate's folder (give each its own): {nested:?}"
    );
}

/// ARCHITECTURE.md's paths (its "where to look" index and its code map) name files and
/// folders that exist: a moved or renamed one fails here, not in a newcomer's hands.
#[test]
fn every_path_the_architecture_document_names_exists() {
    let root = workspace();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let top_level: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| format!("{}/", e.file_name().to_string_lossy()))
        .collect();
    let mut missing = Vec::new();
    let mut checked = 0;
    for quoted in text.split('`').skip(1).step_by(2) {
        // A workspace path: it starts with a top-level folder and has no placeholder.
        let path = quoted.trim_end_matches('/');
        let is_path = top_level.iter().any(|dir| quoted.starts_with(dir.as_str()))
            && !quoted.contains(|c: char| c.is_whitespace() || "<>{}…*".contains(c));
        if is_path {
            checked += 1;
            if !root.join(path).exists() {
                missing.push(path.to_string());
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} paths found: is the check still reading them?"
    );
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}
