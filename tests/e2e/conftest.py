"""Fixtures for the cross-language end-to-end tests (real synapsed + scripted API)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


@pytest.fixture
def synapsed_path():
    return harness.require_binary(harness.synapsed_bin(), "cargo build -p synapsed")


@pytest.fixture
def scripted_api_path():
    return harness.require_binary(harness.scripted_api_bin(),
                                  "cargo build -p synapse-test-support --bin synapse-scripted-api")


@pytest.fixture
def stack(tmp_path, synapsed_path, scripted_api_path, request):
    """Start the scripted API with ``request.param`` (a script), the daemon, and the fake Houdini host."""
    script = request.param
    api = harness.ScriptedApi(script, str(tmp_path)).start()
    daemon = harness.Daemon(str(tmp_path), base_url=api.url).start()
    try:
        houdini = harness.FakeHoudini(daemon.socket, extra_tools=[harness.touch_tool()]).start()
    except BaseException:
        daemon.stop()
        api.stop()
        raise
    yield api, daemon, houdini
    houdini.stop()
    daemon.stop()
    api.stop()
