#!/usr/bin/env bash
# One-time set-up for tests and the demo on a fresh machine:
#   - a Python venv at .venv with pytest and usd-core (tests only; the
#     Houdini plugin itself needs nothing beyond the standard library);
#   - a debug build of every binary (synapsed, synapse-scripted-api).
# Safe to run again: it only installs what is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import pytest, pxr, mcp' 2>/dev/null; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
cargo build --workspace --bins --locked
