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
    return harness.require_binary(harness.synapsed_bin(), "cargo build -p synapsed")
