"""`synapsed mcp` under the official MCP Python SDK client (stdio)."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Optional

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

import harness


class Notes:
    """`notifications/tools/list_changed` seen by the client, as an event to await."""

    def __init__(self) -> None:
        self.list_changed = anyio.Event()
        self.count = 0

    async def handler(self, message: Any) -> None:
        m = getattr(message, "root", message)
        if getattr(m, "method", None) == "notifications/tools/list_changed":
            self.count += 1
            self.list_changed.set()

    async def wait_list_changed(self, timeout: float = 10.0) -> None:
        with anyio.fail_after(timeout):
            await self.list_changed.wait()
        self.list_changed = anyio.Event()


@asynccontextmanager
async def mcp_session(socket: str, *args: str, log_path: Optional[str] = None
                      ) -> AsyncIterator[tuple[ClientSession, Notes, Any]]:
    notes = Notes()
    params = StdioServerParameters(
        command=harness.synapsed_bin(), args=["mcp", "--socket", socket, *args],
        env={"SYNAPSE_MCP_POLL_MS": "100", "SYNAPSE_LOG": "info", "PATH": os.environ.get("PATH", "")})
    log = open(log_path or os.devnull, "a")
    try:
        async with stdio_client(params, errlog=log) as (read, write):
            async with ClientSession(read, write, message_handler=notes.handler) as session:
                init = await session.initialize()
                yield session, notes, init
    finally:
        log.close()


def names(tools_result: Any) -> list[str]:
    return [t.name for t in tools_result.tools]


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")
