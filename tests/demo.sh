#!/usr/bin/env bash
# The main job, end to end: builds synapsed, starts it, runs the Houdini plugin
# as a host over a small simulated scene (fake `hou`, real USD stage), and runs
# one turn, printing it as it streams. Without ANTHROPIC_API_KEY the model is a
# clearly labelled scripted one served locally; with the key, the real API.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tests/setup.sh >/dev/null
export SYNAPSED_BIN="$root/target/debug/synapsed"
export SYNAPSE_SCRIPTED_API_BIN="$root/target/debug/synapse-scripted-api"
exec .venv/bin/python tests/e2e/demo.py "$@"
