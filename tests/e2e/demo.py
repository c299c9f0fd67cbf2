#!/usr/bin/env python3
"""Synapse end-to-end demo: no Houdini, and no API key needed.

What it runs (nothing is built here; binaries come from ``SYNAPSED_BIN`` /
``SYNAPSE_SCRIPTED_API_BIN`` or ``target/debug/``):

1. Without ``ANTHROPIC_API_KEY``: the scripted Messages API server
   (``synapse-scripted-api``) with a two-step script — the "model" inspects the
   stage with ``synapse_inspect_stage``, then answers with a canned summary written
   for this demo's simulated scene (a scripted model cannot read the result).
   With ``ANTHROPIC_API_KEY`` set: the real Anthropic API instead.
2. ``synapsed serve`` with a private socket and data directory.
3. The Houdini plugin (``synapse_houdini``) as a host over a simulated scene: a fake
   ``hou`` whose main thread is a real thread pumping a deferred queue, and a LOP
   network backed by a real USD stage when ``pxr`` (usd-core) is importable, else a
   pure-Python fallback.
4. A turn submitted with ``synapse_houdini.ask``; its ``turn.event`` stream is printed
   as it arrives.

Usage::

    cargo build -p synapsed -p synapse-test-support --bins
    python3 tests/e2e/demo.py ["your prompt"]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

PROMPT = "What is on /stage? Point out anything broken."

SCRIPT = {
    "responses": [
        {
            "content": [
                {"type": "text", "text": "I'll inspect the LOP network first."},
                {"type": "tool_use", "id": "toolu_01", "name": "synapse_inspect_stage", "input": {"target_path": "/stage"}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 812, "output_tokens": 41},
        },
        {
            # Written for this demo's simulated /stage (a scripted model cannot
            # read); the real model writes its own answer from the tool result.
            "content": [{"type": "text", "text": (
                "/stage has six LOP nodes: a sphere, a material library, a dome light, a material "
                "assignment, a bypassed transform and the merge that is displayed.\n\n"
                "Broken: /stage/assign_broken is in error: \"Unable to find material "
                "/materials/gold_MISSING\". The material library only defines /materials/chrome, so point "
                "the assignment at /materials/chrome, or add a gold material to /stage/materiallibrary1.\n\n"
                "Worth a look: /stage/merge1 warns \"Layer break ignored: no upstream layers\", and "
                "/stage/transform_bypassed is bypassed, so its transform does nothing.\n")}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 1630, "output_tokens": 96},
        },
    ]
}


def banner(text: str) -> None:
    line = "=" * max(60, len(text) + 4)
    print(f"\n{line}\n  {text}\n{line}", flush=True)


class EventPrinter:
    """Prints turn events as they stream (called on the plugin's notification thread)."""

    def __init__(self) -> None:
        self._in_text = False
        self._lock = threading.Lock()

    def __call__(self, event: dict) -> None:
        with self._lock:
            kind = event.get("type")
            if kind == "text":
                if not self._in_text:
                    print(f"[{event['seq']:>3}] text   | ", end="")
                    self._in_text = True
                print(event.get("text", ""), end="", flush=True)
                return
            if self._in_text:
                print(flush=True)
                self._in_text = False
            seq = f"[{event.get('seq', '?'):>3}]"
            if kind == "status":
                print(f"{seq} status | {event.get('status')}", flush=True)
            elif kind == "tool_call":
                print(f"{seq} tool   | -> {event.get('name')} {json.dumps(event.get('input'))} (call {event.get('call_id')})", flush=True)
            elif kind == "tool_result":
                state = "ERROR" if event.get("is_error") else "ok"
                print(f"{seq} tool   | <- {event.get('call_id')} {state} in {event.get('duration_ms')} ms", flush=True)
            elif kind == "retry":
                print(f"{seq} retry  | attempt {event.get('attempt')} after {event.get('delay_ms')} ms: {event.get('reason')}", flush=True)
            elif kind == "done":
                print(f"{seq} done   | status={event.get('result', {}).get('status')}", flush=True)
            else:
                print(f"{seq} {kind}: {json.dumps(event)[:200]}", flush=True)


def main(argv: list[str]) -> int:
    prompt = argv[1] if len(argv) > 1 else PROMPT
    real_key = bool(os.environ.get("ANTHROPIC_API_KEY"))
    synapsed = harness.synapsed_bin()
    if not harness.is_executable(synapsed):
        print(f"synapsed not found at {synapsed}: run `cargo build -p synapsed` or set SYNAPSED_BIN", file=sys.stderr)
        return 2
    if not real_key and not harness.is_executable(harness.scripted_api_bin()):
        print(f"synapse-scripted-api not found at {harness.scripted_api_bin()}: run "
              "`cargo build -p synapse-test-support --bin synapse-scripted-api` or set SYNAPSE_SCRIPTED_API_BIN",
              file=sys.stderr)
        return 2

    import fake_scene
    import synapse_houdini

    workdir = harness.tmpdir("synapse-demo-")
    api = None
    daemon = None
    houdini = None
    try:
        if real_key:
            banner("REAL MODEL — using ANTHROPIC_API_KEY (Anthropic Messages API)")
            daemon = harness.Daemon(workdir, base_url=os.environ.get("ANTHROPIC_BASE_URL"), api_key=None).start()
        else:
            banner("SCRIPTED MODEL — no ANTHROPIC_API_KEY set")
            api = harness.ScriptedApi(SCRIPT, workdir).start()
            print(f"scripted Messages API at {api.url}", flush=True)
            daemon = harness.Daemon(workdir, base_url=api.url).start()
        print(f"synapsed {daemon.ready.get('version')} pid {daemon.ready.get('pid')} on {daemon.socket}", flush=True)

        houdini = harness.FakeHoudini(daemon.socket).start()
        usd = "real USD stage (usd-core)" if fake_scene.HAVE_USD else "pure-Python fallback (pxr not importable)"
        print(f"simulated Houdini: /stage with {len(houdini.scene.nodes)} LOP nodes, {usd}", flush=True)
        print(f"plugin registered as {houdini.host.host_id}", flush=True)

        banner(f"ask: {prompt}")
        print("(each line starts with the event's seq; a run of text deltas prints as one line, "
              "from its first seq)", flush=True)
        handle = synapse_houdini.ask(prompt)
        handle.on_event(EventPrinter())
        result = handle.result(timeout=300)
        banner(f"turn {result['turn_id']} {result['status']}")
        usage = result.get("usage", {})
        print(f"iterations {result.get('iterations')}, tool calls {len(result.get('tool_calls', []))}, "
              f"tokens in {usage.get('input_tokens')} / out {usage.get('output_tokens')}", flush=True)
        return 0 if result["status"] == "complete" else 1
    except synapse_houdini.TurnCancelled as exc:
        print(f"turn cancelled: {exc}", file=sys.stderr)
        return 1
    finally:
        if houdini is not None:
            houdini.stop()
        if daemon is not None:
            daemon.stop()
        if api is not None:
            api.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
