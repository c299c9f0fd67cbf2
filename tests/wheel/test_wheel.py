"""The `synapsed` wheel (maturin `bin` bindings, `crates/synapsed/pyproject.toml`):
built from the shared `target/`, installed into a fresh venv, and run from there.

The wheel is built with the `dev` profile and `--strip` (CI builds no release
binary; a release wheel is the same packaging with `--release`, see
docs/operations.md "The wheel"). Skipped, saying why, only when maturin is not
installed and cannot be installed from PyPI.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import time
import venv

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MANIFEST = os.path.join(ROOT, "crates", "synapsed", "Cargo.toml")
MATURIN = "maturin>=1.9,<2"


def crate_version() -> str:
    with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as f:
        m = re.search(r'^\[workspace\.package\][^\[]*?^version\s*=\s*"([^"]+)"', f.read(), re.M | re.S)
    assert m, "no workspace version in Cargo.toml"
    return m.group(1)


def have_maturin() -> bool:
    return subprocess.run([sys.executable, "-m", "maturin", "--version"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def maturin():
    if not have_maturin():
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", MATURIN],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0 or not have_maturin():
            pytest.skip(f"maturin is not installed and `pip install '{MATURIN}'` failed: {r.stderr.strip()[-500:]}")
    return [sys.executable, "-m", "maturin"]


@pytest.fixture(scope="module")
def installed(maturin, tmp_path_factory):
    """(venv bin dir, wheel path); prints the build and install times."""
    tmp = tmp_path_factory.mktemp("wheel")
    out = tmp / "dist"
    t0 = time.monotonic()
    r = subprocess.run(maturin + ["build", "--profile", "dev", "--strip", "--locked", "-m", MANIFEST, "-o", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=1200)
    built = time.monotonic() - t0
    assert r.returncode == 0, f"maturin build failed:\n{r.stdout}\n{r.stderr}"
    wheels = glob.glob(str(out / "synapsed-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = tmp / "venv"
    t0 = time.monotonic()
    # A fresh venv without its own pip (seeding pip costs seconds); the tests'
    # pip installs into it (`pip --python`, pip >= 22.3), as `uv pip` would.
    venv.EnvBuilder(with_pip=False).create(str(env_dir))
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / ("python.exe" if os.name == "nt" else "python")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-index",
                        "--no-deps", "--disable-pip-version-check", wheels[0]], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    inst = time.monotonic() - t0
    print(f"\nwheel: built in {built:.1f} s ({os.path.getsize(wheels[0]) / 1e6:.1f} MB), "
          f"venv + install in {inst:.1f} s")
    return bindir, wheels[0]


def clean_env(tmp) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SYNAPSE", "HOUDINI", "ANTHROPIC", "XDG_"))}
    env.update(HOME=str(tmp / "home"), XDG_DATA_HOME=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "config"))
    return env


def test_the_wheel_names_its_platform_and_version(installed):
    _bindir, wheel = installed
    name = os.path.basename(wheel)
    # py3-none: no Python ABI (a plain executable); the platform tag carries the glibc floor.
    assert name.startswith(f"synapsed-{crate_version()}-py3-none-"), name


def test_synapsed_is_on_the_venv_path_and_runs(installed, tmp_path):
    bindir, _ = installed
    env = clean_env(tmp_path)
    env["PATH"] = str(bindir) + os.pathsep + env.get("PATH", "")
    r = subprocess.run(["synapsed", "--version"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"synapsed {crate_version()}\n"
    # It is the venv's copy, not a developer build on PATH.
    r = subprocess.run([sys.executable, "-c", "import shutil,sys; print(shutil.which('synapsed', path=sys.argv[1]))",
                        str(bindir)], capture_output=True, text=True)
    assert r.stdout.strip().startswith(str(bindir))


def test_setup_houdini_dry_run_from_the_wheel(installed, tmp_path):
    bindir, _ = installed
    prefs = tmp_path / "prefs"
    prefs.mkdir()
    env = clean_env(tmp_path)
    exe = str(bindir / ("synapsed.exe" if os.name == "nt" else "synapsed"))
    r = subprocess.run([exe, "setup", "houdini", "--dry-run", "--prefs-dir", str(prefs)],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert f"{prefs}{os.sep}packages{os.sep}synapse.json: would be written" in r.stdout, r.stdout
    assert "files would be written" in r.stdout, r.stdout
    # A dry run writes nothing, neither the package JSON nor the plugin files.
    assert list(prefs.iterdir()) == []
    assert not (tmp_path / "data").exists()
