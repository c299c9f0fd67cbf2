#!/usr/bin/env bash
# Every test: formatting, lints and rustdoc, the Rust workspace (unit, socket,
# golden, storage, fuzz, crash and CLI tests), the JSON Schema freshness check,
# then the Python plugin and cross-language end-to-end tests against the built
# daemon, then the Windows build's Rust tests under Wine (tests/windows/run.sh).
# Ends with one line counting every test that ran, Rust, Python and Windows
# together: `N passed, N failed` (a failed fmt/clippy/rustdoc check counts as
# one failed test).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash tests/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
checks_failed=0
check() {
    local name=$1
    shift
    echo "== $name"
    if ! "$@"; then
        echo "!! $name failed"
        checks_failed=$((checks_failed + 1))
    fi
}

check "cargo fmt --check" cargo fmt --all -- --check
check "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
check "cargo doc" env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

echo "== cargo test"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$logs/cargo.txt"
cargo_rc=${PIPESTATUS[0]}

echo "== pytest"
export SYNAPSED_BIN="$root/target/debug/synapsed"
export SYNAPSE_SCRIPTED_API_BIN="$root/target/debug/synapse-scripted-api"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"  # the panel tests need no display
.venv/bin/python -m pytest -q houdini-plugin/tests tests 2>&1 | tee "$logs/pytest.txt"
pytest_rc=${PIPESTATUS[0]}

# The Windows build and its Rust tests under Wine (tests/windows/run.sh; its
# own target dir target/windows). SYNAPSE_SKIP_WINDOWS=1 leaves it out.
win_passed=0
win_failed=0
if [ "${SYNAPSE_SKIP_WINDOWS:-0}" != 1 ]; then
    echo "== windows (under Wine)"
    win_t0=$(date +%s)
    bash tests/windows/run.sh 2>&1 | tee "$logs/windows.txt"
    win_rc=${PIPESTATUS[0]}
    echo "== windows step took $(( $(date +%s) - win_t0 )) s"
    read -r win_passed win_failed < <(grep -E '^windows: [0-9]+ passed, [0-9]+ failed' "$logs/windows.txt" \
        | tail -1 | awk '{ print $2 + 0, $4 + 0 } END { if (NR == 0) print 0, 0 }')
    if [ "$win_rc" -ne 0 ] && [ "$win_failed" -eq 0 ]; then win_failed=1; fi
fi

# Counts: every `test result:` line of cargo, and pytest's summary line.
read -r rust_passed rust_failed < <(awk '/^test result:/ {
        for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
    } END { print p + 0, f + 0 }' "$logs/cargo.txt")
# pytest's last line: "3 failed, 360 passed, 2 skipped in 40.1s" (any order).
read -r py_passed py_failed < <(grep -E ' in [0-9.]+s' "$logs/pytest.txt" | tail -1 | awk '{
        for (i = 1; i <= NF; i++) { w = $(i+1); sub(/[,=]+$/, "", w)
            if (w == "passed") p += $i; if (w == "failed" || w == "error" || w == "errors") f += $i }
    } END { print p + 0, f + 0 }')
if [ "$cargo_rc" -ne 0 ] && [ "$rust_failed" -eq 0 ]; then rust_failed=1; fi
if [ "$pytest_rc" -ne 0 ] && [ "$py_failed" -eq 0 ]; then py_failed=1; fi

echo "Rust: $rust_passed passed, $rust_failed failed; Python: $py_passed passed, $py_failed failed; Windows (Wine): $win_passed passed, $win_failed failed; checks failed: $checks_failed"
passed=$((rust_passed + py_passed + win_passed))
failed=$((rust_failed + py_failed + win_failed + checks_failed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
