"""The demo script runs end to end with the scripted model ."""

from __future__ import annotations

import os
import subprocess
import sys


DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.py")


def test_demo_runs_with_the_scripted_model(synapsed_path, scripted_api_path, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run([sys.executable, DEMO], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "SCRIPTED MODEL — no ANTHROPIC_API_KEY set" in out
    assert "-> synapse_inspect_stage" in out
    assert "status=complete" in out
    assert "/stage/assign_broken is in error" in out  # the answer names the broken node
