"""Fixtures for the MCP tests: the real daemon, stub hosts, and `synapsed mcp`
driven by the official MCP Python SDK client over stdio."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import harness  # noqa: E402


@pytest.fixture
def synapsed_path():
    return harness.require_binary(harness.synapsed_bin(), "cargo build -p synapsed")


@pytest.fixture
def workdir():
    # Short: a Unix socket path is limited to ~100 bytes.
    d = tempfile.mkdtemp(prefix="syn-mcp-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon(synapsed_path, workdir):
    d = harness.Daemon(workdir, api_key=None).start()
    yield d
    d.stop()
