#!/bin/bash
# Packs a release for the instances: bin/target-stack, bootstrap.sh and a VERSION file, as
# the launch templates' user data unpacks into /opt/aforo/release.
#   package.sh OUT.tar.gz [TARGET_STACK_BINARY]   (default: target/release/target-stack)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: package.sh OUT.tar.gz [TARGET_STACK_BINARY]}
binary=${2:-$here/../../target/release/target-stack}
[ -x "$binary" ] || { echo "package.sh: $binary is not an executable; build it with cargo build --release -p target-stack" >&2; exit 2; }
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
install -D -m 0755 "$binary" "$staging/bin/target-stack"
install -m 0755 "$here/bootstrap.sh" "$staging/bootstrap.sh"
{
  "$binary" --version
  git -C "$here" rev-parse HEAD 2>/dev/null || echo "commit unknown"
  sha256sum "$binary" | cut -d' ' -f1
} > "$staging/VERSION"
tar -czf "$out" -C "$staging" .
echo "$out: $(head -1 "$staging/VERSION"), sha256 $(tail -1 "$staging/VERSION")"
