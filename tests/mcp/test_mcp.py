"""`synapsed mcp` driven by the official MCP Python SDK client over stdio,
against the real daemon and stub hosts (design §15, issue 13)."""

from __future__ import annotations

import json
import os
import subprocess

import anyio
import pytest
from mcp import MCPError

import harness
from mcpclient import mcp_session, names, text_of
from stubhost import LOOK_SCHEMA, PNG_B64, StubHost

ALL = ["look", "make", "nuke", "fail", "snap", "slow"]


def run(coro_fn, *args):
    return anyio.run(coro_fn, *args)


def test_initialize_and_list(daemon):
    async def main():
        with StubHost(daemon.socket):
            async with mcp_session(daemon.socket) as (s, _, init):
                assert init.protocol_version == "2025-11-25"
                assert init.capabilities.tools is not None and init.capabilities.tools.list_changed is True
                assert init.server_info.name == "synapse"
                tools = {t.name: t for t in (await s.list_tools()).tools}
                assert list(tools) == ALL
                assert tools["look"].input_schema == LOOK_SCHEMA
                assert tools["look"].description == "stub look"
                hints = {n: (t.annotations.read_only_hint, t.annotations.destructive_hint) for n, t in tools.items()}
                assert hints["look"] == (True, False)
                assert hints["make"] == (False, False)
                # `destructive` is an optional ToolSpec field (a daemon that does not
                # know it yet drops it): the hint mirrors what host.list says.
                client = daemon.client()
                try:
                    listed = client.call("host.list", {}, timeout=5)
                finally:
                    client.close()
                nuke = next(t for t in listed[0]["tools"] if t["name"] == "nuke")
                assert hints["nuke"] == (False, nuke.get("destructive", False))

    run(main)


def test_read_only_offers_read_only_tools(daemon):
    async def main():
        with StubHost(daemon.socket) as host:
            async with mcp_session(daemon.socket, "--read-only") as (s, _, _i):
                assert names(await s.list_tools()) == ["look", "fail", "snap", "slow"]
                with pytest.raises(MCPError) as e:
                    await s.call_tool("make", {})
                assert e.value.error.code == -32602
                assert not [p for p in host.invokes if p["name"] == "make"]

    run(main)


def test_call_ok_error_and_image(daemon):
    async def main():
        with StubHost(daemon.socket) as host:
            async with mcp_session(daemon.socket) as (s, _, _i):
                r = await s.call_tool("look", {"path": "/obj", "limit": 5})
                assert r.is_error is False
                assert json.loads(text_of(r)) == {"tool": "look", "input": {"path": "/obj", "limit": 5}}
                seen = host.wait_invoke("look")
                assert seen["input"] == {"path": "/obj", "limit": 5}
                assert seen["call_id"].startswith("mcp_")

                r = await s.call_tool("fail", {})
                assert r.is_error is True
                env = json.loads(text_of(r))
                assert env["error_type"] == "NodeNotFound" and env["agent_tool_error"] is True

                r = await s.call_tool("snap", {})
                assert r.is_error is False
                kinds = [c.type for c in r.content]
                assert kinds == ["text", "image"]
                assert r.content[1].mime_type == "image/png"
                assert r.content[1].data == PNG_B64

    run(main)


def test_bad_input_gives_errors_and_the_server_stays_up(daemon):
    async def main():
        with StubHost(daemon.socket) as host:
            async with mcp_session(daemon.socket) as (s, _, _i):
                with pytest.raises(MCPError) as e:
                    await s.call_tool("no_such_tool", {})
                assert e.value.error.code == -32602
                assert "no_such_tool" in e.value.error.message
                for args, why in [({}, "arguments.path is required"),
                                  ({"path": 1}, "arguments.path must be string"),
                                  ({"path": "/", "limit": 0}, "at least 1"),
                                  ({"path": "/", "extra": True}, "not an accepted field")]:
                    r = await s.call_tool("look", args)
                    assert r.is_error is True, args
                    assert why in text_of(r), text_of(r)
                assert host.invokes == []  # nothing reached Houdini
                assert "look" in names(await s.list_tools())
                r = await s.call_tool("look", {"path": "/ok"})
                assert r.is_error is False

    run(main)


def test_malformed_mcp_messages_get_json_rpc_errors(daemon, synapsed_path):
    with StubHost(daemon.socket):
        lines = [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": "raw", "version": "0"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            "this is not json",
            {"jsonrpc": "2.0", "id": 2, "method": "no/such/method"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "look", "arguments": 5}},
            {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"arguments": {}}},
            [1, 2],
            {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "look", "arguments": {"path": "/x"}}},
            {"jsonrpc": "2.0", "id": 6, "method": "ping"},
        ]
        data = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
        proc = subprocess.run([synapsed_path, "mcp", "--socket", daemon.socket], input=data.encode(),
                              capture_output=True, timeout=20,
                              env={**os.environ, "SYNAPSE_LOG": "warn"})
        out = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]
        by_id = {m.get("id"): m for m in out if isinstance(m, dict)}
        assert by_id[1]["result"]["protocolVersion"] == "2025-11-25"
        assert by_id[2]["error"]["code"] == -32601
        assert by_id[3]["error"]["code"] == -32602
        assert by_id[4]["error"]["code"] == -32602
        assert by_id[5]["result"]["isError"] is False
        assert by_id[6]["result"] == {}
        null_id = [m for m in out if isinstance(m, dict) and m.get("id") is None]
        assert [m["error"]["code"] for m in null_id] == [-32700, -32600], out
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        assert b"not json" not in proc.stdout  # stdout is the protocol only


def test_list_changed_when_a_host_registers_and_goes(daemon):
    async def main():
        async with mcp_session(daemon.socket) as (s, notes, _i):
            assert names(await s.list_tools()) == ["synapse_status"]
            r = await s.call_tool("synapse_status", {})
            assert r.is_error is False
            assert "no Houdini is connected" in text_of(r)
            r = await s.call_tool("look", {"path": "/"})
            assert r.is_error is True
            assert "Houdini is not running with Synapse" in text_of(r)

            host = StubHost(daemon.socket).start()
            try:
                await notes.wait_list_changed()
                assert names(await s.list_tools()) == ALL
                r = await s.call_tool("look", {"path": "/"})
                assert r.is_error is False
            finally:
                host.stop()
            await notes.wait_list_changed()
            assert names(await s.list_tools()) == ["synapse_status"]

    run(main)


def test_no_daemon_then_one_starts(synapsed_path, workdir):
    async def main():
        d = harness.Daemon(workdir, api_key=None)
        async with mcp_session(d.socket) as (s, notes, _i):
            assert names(await s.list_tools()) == ["synapse_status"]
            r = await s.call_tool("synapse_status", {})
            assert "no Synapse daemon answers" in text_of(r)
            assert "synapsed serve" in text_of(r)
            r = await s.call_tool("houdini_list_nodes", {})
            assert r.is_error is True and "Houdini is not running with Synapse" in text_of(r)
            d.start()
            try:
                with StubHost(d.socket):
                    await notes.wait_list_changed()
                    tools = names(await s.list_tools())
                    if tools == ["synapse_status"]:  # saw the daemon before the host
                        await notes.wait_list_changed()
                        tools = names(await s.list_tools())
                    assert tools == ALL
            finally:
                d.stop()

    run(main)


def test_cancellation_reaches_the_host_as_tool_cancel(daemon):
    async def main():
        with StubHost(daemon.socket) as host:
            async with mcp_session(daemon.socket) as (s, _, _i):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(s.call_tool, "slow", {})
                    seen = await anyio.to_thread.run_sync(host.wait_invoke, "slow")
                    tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled
                await anyio.to_thread.run_sync(host.wait_cancel, seen["call_id"])
                # Still serving.
                r = await s.call_tool("look", {"path": "/after"})
                assert r.is_error is False

    run(main)


def test_two_hosts_need_host_id(daemon):
    async def main():
        with StubHost(daemon.socket, pid=1111) as a, StubHost(daemon.socket, pid=2222) as b:
            async with mcp_session(daemon.socket) as (s, _, _i):
                listed = names(await s.list_tools())
                assert listed[0] == "synapse_status" and "look" in listed
                r = await s.call_tool("look", {"path": "/"})
                assert r.is_error is True
                assert a.host_id in text_of(r) and b.host_id in text_of(r)
                assert "--host-id" in text_of(r)
                assert a.invokes == [] and b.invokes == []
            async with mcp_session(daemon.socket, "--host-id", b.host_id) as (s, _, _i):
                assert names(await s.list_tools()) == ALL
                r = await s.call_tool("look", {"path": "/b"})
                assert r.is_error is False
                assert b.wait_invoke("look")["input"] == {"path": "/b"}
                assert a.invokes == []

    run(main)
