#!/usr/bin/env bash
# Every test: formatting, lints and rustdoc, the Rust workspace (unit, socket, golden,
# crash and CLI tests), the JSON Schema freshness check, then the Python
# plugin and cross-language end-to-end tests against the built daemon.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash tests/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== cargo test"
cargo test --workspace --locked
echo "== pytest"
export SYNAPSED_BIN="$root/target/debug/synapsed"
export SYNAPSE_SCRIPTED_API_BIN="$root/target/debug/synapse-scripted-api"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"  # the panel tests need no display
.venv/bin/python -m pytest -q houdini-plugin/tests tests
