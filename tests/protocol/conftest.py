"""Make the e2e harness and the plugin package importable for protocol tests."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "houdini-plugin", "python"))

import pytest  # noqa: E402

import harness  # noqa: E402


@pytest.fixture
def synapsed_path():
    path = harness.synapsed_bin()
    if not harness.is_executable(path):
        if os.environ.get("CI"):
            pytest.fail(f"{path} is not built; CI must build it first (tests/setup.sh)")
        pytest.skip(f"synapsed not built at {path} (run `cargo build -p synapsed`)")
    return path
