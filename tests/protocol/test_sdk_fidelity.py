"""What the daemon stores and sends back equals what the official ``anthropic``
Python SDK assembles from the same bytes (``MessageStream.get_final_message()``).

Each recorded-shape stream in ``tests/fixtures/sse/`` is served twice by the
scripted Messages API, byte for byte and cut into awkward chunks: once to the SDK
(over real HTTP), once to ``synapsed`` in a turn. The assistant message the
daemon sends back in its next request must equal the SDK's final message content
(``None`` fields, which the SDK's models add for fields the API did not send, are
not compared).
"""

import glob
import json
import os

import pytest

import harness

anthropic = pytest.importorskip("anthropic")

FIXTURES = sorted(glob.glob(os.path.join(harness.REPO, "tests", "fixtures", "sse", "*.sse")))


def without_none(v):
    if isinstance(v, dict):
        return {k: without_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [without_none(x) for x in v]
    return v


def sdk_final_content(sse: str, chunk: int, workdir: str) -> list:
    os.makedirs(workdir, exist_ok=True)
    script = {"responses": [{"raw_sse": sse, "chunk_bytes": chunk}]}
    with harness.ScriptedApi(script, workdir) as api:
        client = anthropic.Anthropic(base_url=api.url, api_key="test-key", max_retries=0)
        with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64,
                                    messages=[{"role": "user", "content": "hi"}]) as stream:
            final = stream.get_final_message()
    return without_none(final.model_dump(mode="json")["content"])


def daemon_sent_back(sse: str, chunk: int, workdir: str) -> list:
    os.makedirs(workdir, exist_ok=True)
    script = {"responses": [{"raw_sse": sse, "chunk_bytes": chunk},
                            {"content": [{"type": "text", "text": "done"}]}]}
    with harness.ScriptedApi(script, workdir) as api, harness.Daemon(workdir, base_url=api.url) as d:
        client = d.client()
        try:
            sub = client.call("turn.submit", {"prompt": "hi"}, timeout=10)
            result = client.call("turn.wait", {"turn_id": sub["turn_id"], "timeout_s": 20}, timeout=25)
        finally:
            client.close()
        requests = api.requests()
    assert len(requests) >= 2, result
    return without_none(requests[1]["body"]["messages"][1]["content"])


@pytest.mark.parametrize("fixture", FIXTURES, ids=[os.path.basename(f) for f in FIXTURES])
@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_the_daemon_sends_back_what_the_sdk_assembles(fixture, chunk, tmp_path):
    with open(fixture, encoding="utf-8") as f:
        sse = f.read()
    sdk = sdk_final_content(sse, chunk, str(tmp_path / "sdk"))
    ours = daemon_sent_back(sse, chunk, str(tmp_path / "daemon"))
    assert ours == sdk, json.dumps({"ours": ours, "sdk": sdk}, indent=1, ensure_ascii=False)
