#!/usr/bin/env bash
# The Windows build and its tests under Wine.
#
# Builds the workspace's chosen test executables (and the `synapsed` and
# scripted-API binaries they spawn) for x86_64-pc-windows-gnu ONCE, with
# Debian's rustc-web toolchain building the standard library itself
# (-Zbuild-std), into target/windows (never the host target dir), then runs
# them under wine64 with a private WINEPREFIX. Ends with one line:
# `windows: N passed, N failed` (a failed build counts as one failed test).
#
# Each test executable gets at most SYNAPSE_WINE_TEST_TIMEOUT seconds; one
# that runs longer is killed (with every process left in the private Wine
# prefix) and counted as a failure, so a hang never stalls CI.
#
# Usage: tests/windows/run.sh [--build-only]
# Env: SYNAPSE_WINE_TEST_THREADS (default 2), SYNAPSE_WINE_TEST_TIMEOUT
# (seconds per test executable, default 300).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
here="$root/tests/windows"
triple=x86_64-pc-windows-gnu
win_target="$root/target/windows"
bin_dir="$win_target/$triple/debug"

# Test executables to run: `package:test-target` (`package:lib` = unit tests).
targets=(
    synapse-store:store
    synapse-store:crash
    synapse-rpc:lib
    synapse-rpc:peer_requests
    synapse-rpc:windows_pipe
    synapse-protocol:lib
    synapse-protocol:schemas
    synapse-daemon:lib
    synapse-agent:lib
    synapse-agent:turns
    synapse-agent:models
    synapse-agent:secrets
    synapse-mcp:lib
    synapsed:golden
    synapsed:turns
    synapsed:windows_daemon
    synapsed:transport_figures
    synapsed:conversation
    synapsed:direct_calls
    synapsed:models
    synapsed:approvals
    synapsed:budget
    synapsed:crash
    synapsed:storage
    synapsed:auth
    synapsed:cli_approve
    synapsed:cli_ask
    synapsed:cli_errors
    synapsed:doctor
    synapsed:secrets
    synapsed:setup_houdini
)

# 1. Packages (idempotent: nothing to do when they are there).
pkgs=(rustc-web cargo-web rust-web-src wine64 gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64)
missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    { $sudo_cmd apt-get update -qq \
        && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
        || { echo "windows: 0 passed, 1 failed"; exit 1; }
fi

# 2. The toolchain: Debian's rustc-web, which ships the std sources to build.
export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
# Line tables only: backtraces keep file:line, the target dir stays smaller
# and links are faster than with full debug info.
export CARGO_PROFILE_DEV_DEBUG=line-tables-only
unset RUSTFLAGS CARGO_BUILD_TARGET
cargo=/usr/bin/cargo
mkdir -p "$bin_dir/deps"

# 3. The ProcessPrng shim (test harness only).
shim="$win_target/shim/bcryptprimitives.dll"
if [ ! -f "$shim" ] || [ "$here/processprng.c" -nt "$shim" ]; then
    mkdir -p "$(dirname "$shim")"
    x86_64-w64-mingw32-gcc -shared -O2 -o "$shim" "$here/processprng.c" -ladvapi32 \
        || { echo "windows: 0 passed, 1 failed"; exit 1; }
fi
cp -f "$shim" "$bin_dir/deps/"
cp -f "$shim" "$bin_dir/"

# 4. Build everything once.
echo "== building for $triple (target dir $win_target)"
pkg_args=()
for t in "${targets[@]}"; do
    pkg=${t%%:*}
    name=${t#*:}
    [[ " ${pkg_args[*]} " == *" -p $pkg "* ]] || pkg_args+=(-p "$pkg")
done
for t in "${targets[@]}"; do
    name=${t#*:}
    if [ "$name" = lib ]; then
        [[ " ${pkg_args[*]} " == *" --lib "* ]] || pkg_args+=(--lib)
    else
        [[ " ${pkg_args[*]} " == *" --test $name "* ]] || pkg_args+=(--test "$name")
    fi
done
build_log="$win_target/build.json"
t0=$(date +%s)
"$cargo" test -Zbuild-std=std,panic_abort --target "$triple" --target-dir "$win_target" \
    --locked --no-run --message-format=json-render-diagnostics "${pkg_args[@]}" \
    > "$build_log"
build_rc=$?
"$cargo" build -Zbuild-std=std,panic_abort --target "$triple" --target-dir "$win_target" \
    --locked -p synapsed --bin synapsed -p synapse-test-support --bins
build_rc=$((build_rc + $?))
echo "== build took $(( $(date +%s) - t0 )) s"
if [ "$build_rc" -ne 0 ]; then
    echo "windows: 0 passed, 1 failed"
    exit 1
fi

# 5. Wine, with its own prefix under the target dir.
export WINEPREFIX="$win_target/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="bcryptprimitives=n,b"
wine=/usr/lib/wine/wine64
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    echo "== creating $WINEPREFIX"
    "$wine" wineboot --init >/dev/null 2>&1
fi
threads=${SYNAPSE_WINE_TEST_THREADS:-2}
limit=${SYNAPSE_WINE_TEST_TIMEOUT:-300}

# 6. Run each chosen test executable.
passed=0
failed=0
logs="$win_target/logs"
mkdir -p "$logs"
for t in "${targets[@]}"; do
    pkg=${t%%:*}
    name=${t#*:}
    exe=$(python3 - "$build_log" "$pkg" "$name" <<'PY'
import json, sys
log, pkg, name = sys.argv[1:]
for line in open(log):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    t = m["target"]
    if not m["manifest_path"].endswith(f"/crates/{pkg}/Cargo.toml"):
        continue
    if (name == "lib" and "lib" in t["kind"]) or (t["name"] == name and "test" in t["kind"]):
        print(m["executable"])
        break
PY
)
    if [ -z "$exe" ]; then
        echo "!! $t: no test executable was built"
        failed=$((failed + 1))
        continue
    fi
    cp -f "$shim" "$(dirname "$exe")/"
    log="$logs/$pkg-$name.txt"
    t1=$(date +%s)
    (cd "$bin_dir" && timeout -k 10 "$limit" "$wine" "$exe" --test-threads="$threads" --nocapture) >"$log" 2>&1
    rc=$?
    read -r p f < <(awk '/^test result:/ {
            for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
        } END { print p + 0, f + 0 }' "$log")
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        # Timed out: what it was running is in the log; end whatever it
        # left in this prefix (daemons, helpers) before the next executable.
        echo "!! $t: TIMED OUT after ${limit}s (SYNAPSE_WINE_TEST_TIMEOUT); still running:" >>"$log"
        grep -E '^test .*\.\.\.$|^test [^ ]+ has been running' "$log" | tail -5 >>"$log"
        /usr/lib/wine/wineserver -k >/dev/null 2>&1
        f=$((f + 1))
        echo "!! $t: TIMED OUT after ${limit}s"
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    printf '%-28s %4d passed %4d failed  (%ss)\n' "$t" "$p" "$f" "$(( $(date +%s) - t1 ))"
    if [ "$f" -ne 0 ]; then
        grep -E '^test .* FAILED$|panicked' "$log" | head -20 | sed 's/^/    /'
        echo "    (log: $log)"
    fi
    grep '^FIGURE' "$log" | sed 's/^/    /'
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "windows: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
