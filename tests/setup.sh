#!/usr/bin/env bash
# One-time set-up for tests and the demo on a fresh machine:
#   - a Python venv at .venv with pytest, usd-core and types-houdini (tests only; the
#     Houdini plugin itself needs nothing beyond the standard library);
#   - a debug build of every binary (synapsed, synapse-scripted-api).
# Safe to run again: it only installs what is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import pytest, pxr, anthropic, mcp, PySide6, importlib.metadata as m; m.distribution("types-houdini"), m.distribution("maturin"), m.distribution("typeshed_client")' 2>/dev/null; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
# Qt (the panel tests, offscreen) needs a few system libraries; install the missing ones.
qt_libs="libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3"
missing=""
for lib in $qt_libs; do
    dpkg -s "$lib" >/dev/null 2>&1 || missing="$missing $lib"
done
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq $missing
fi
cargo build --workspace --bins --locked
