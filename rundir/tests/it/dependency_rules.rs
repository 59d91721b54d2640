//! The workspace's dependency rules as a checked fact (ARCHITECTURE.md, "Invariants"): which
//! workspace crate may use which, that no crate's folder sits inside another's, and that no
//! crate's modules import each other in a loop. It
//! reads `cargo metadata`, so a new `[dependencies]` line that breaks a rule fails here with
//! the rule it breaks. It lives in rundir, the crate at the bottom of the graph, because
//! every other crate depends on it and its tests build first.

use std::collections::{BTreeMap, BTreeSet};
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

/// Within each crate, the top-level modules (`src/x.rs` or `src/x/`) and the others each
/// names through `crate::` outside comments and its test module (which closes the file).
fn module_references(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut references: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = Path::new(first).file_stem().unwrap().to_string_lossy();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let named = references.entry(module.to_string()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            named.extend(crate_paths(line));
        }
    }
    let modules: BTreeSet<String> = references.keys().cloned().collect();
    for (module, named) in references.iter_mut() {
        named.retain(|n| n != module && modules.contains(n));
    }
    references
}

/// The first segment of each `crate::…` path in `line`, braces included
/// (`use crate::{a, b::c}` names `a` and `b`).
fn crate_paths(line: &str) -> Vec<String> {
    let identifier = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = Vec::new();
    for after in line.split("crate::").skip(1) {
        match after.strip_prefix('{') {
            Some(group) => {
                let mut depth = 0;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        _ if item_start && !c.is_whitespace() => {
                            names.push(identifier(&group[i..]));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            }
            None => names.push(identifier(after)),
        }
    }
    names
}

/// A loop of modules in `graph`, as the path that closes it, if there is one.
fn find_loop(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(graph, start, &mut Vec::new(), &mut done))
}

#[test]
fn crate_paths_reads_plain_and_grouped_uses() {
    assert_eq!(
        crate_paths("use crate::http::{Connection, Request};"),
        ["http"]
    );
    assert_eq!(
        crate_paths("use crate::{analysis::{A, B}, gate, model::Slo};"),
        ["analysis", "gate", "model"]
    );
    assert_eq!(
        crate_paths("let x = crate::run::stop(crate::plan::Plan::default());"),
        ["run", "plan"]
    );
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_loop(&graph).unwrap(), ["a", "b", "c", "a"]);
}

/// No two modules of a crate import each other, directly or through others: each crate's
/// modules form layers, so each can be read (and tested) knowing only those below it.
#[test]
fn no_modules_of_a_crate_import_each_other_in_a_loop() {
    let mut loops = Vec::new();
    let mut modules = 0;
    for package in packages() {
        let graph = module_references(&package.dir.join("src"));
        modules += graph.len();
        if let Some(cycle) = find_loop(&graph) {
            loops.push(format!("{}: {}", package.name, cycle.join(" → ")));
        }
    }
    assert!(
        modules >= 50,
        "only {modules} modules found: is the check still reading them?"
    );
    assert!(
        loops.is_empty(),
        "modules that import each other in a loop (move what both need below both):\n{}",
        loops.join("\n")
    );
}
