//! docs/local-stack.md's audit table names, for each semantic, the test that holds it: every
//! name there is a test in the workspace, so a renamed or deleted test cannot leave a row
//! claiming a check that no longer exists.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != ".git" {
                rust_sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The test names in the tables' last column: backticked snake_case words of four or more.
fn cited_tests(doc: &str) -> Vec<String> {
    doc.lines()
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| line.trim_end_matches('|').rsplit('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|word| {
            word.split('_').count() >= 4
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn every_test_the_local_stack_audit_cites_exists() {
    let doc = std::fs::read_to_string(workspace().join("docs/local-stack.md")).unwrap();
    let cited = cited_tests(&doc);
    assert!(
        cited.len() >= 15,
        "too few tests found in the table: {cited:?}"
    );
    let mut files = Vec::new();
    rust_sources(&workspace(), &mut files);
    let sources: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect();
    let missing: Vec<&String> = cited
        .iter()
        .filter(|name| !sources.contains(&format!("fn {name}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/local-stack.md cites tests that do not exist: {missing:?}"
    );
}
