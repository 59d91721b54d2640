//! cfn-lint on every template: no errors and no warnings (the exit code is a bitmask: 2
//! error, 4 warning, 8 informational).

use std::process::Command;

use crate::template::{self, TEMPLATES};

#[test]
fn cfn_lint_finds_nothing() {
    let Some(cfn_lint) = crate::moto::tool("cfn-lint", "pip install cfn-lint") else {
        return;
    };
    let paths: Vec<_> = TEMPLATES.iter().map(|t| template::path(t)).collect();
    let out = Command::new(cfn_lint)
        .args(&paths)
        .output()
        .expect("cfn-lint runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 8,
        "cfn-lint exit {code} (2 error, 4 warning):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
