"""Cross-language end-to-end harness: the real ``synapsed``, the scripted Messages API
server (``synapse-scripted-api``) and the plugin as a host over the simulated scene.

Used by the e2e tests and by ``demo.py``. Binaries come from ``SYNAPSED_BIN`` /
``SYNAPSE_SCRIPTED_API_BIN`` or default to ``<repo>/target/debug/...``; nothing is
built here. Every wait is bounded (deadlines, events), never a bare sleep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any, Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PLUGIN = os.path.join(REPO, "houdini-plugin")
FAKES = os.path.join(PLUGIN, "tests", "fakes")

for _p in (os.path.join(PLUGIN, "python"), FAKES):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from synapse_houdini.launcher import read_ready_line  # noqa: E402  (one reader for every readiness line)


def synapsed_bin() -> str:
    return os.environ.get("SYNAPSED_BIN") or os.path.join(REPO, "target", "debug", "synapsed")


def scripted_api_bin() -> str:
    return os.environ.get("SYNAPSE_SCRIPTED_API_BIN") or os.path.join(REPO, "target", "debug", "synapse-scripted-api")


def is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def require_binary(path: str, build_hint: str) -> str:
    """*path* if it is an executable; else skip the test (fail it under ``CI``, which must build first)."""
    if not is_executable(path):
        import pytest

        if os.environ.get("CI"):
            pytest.fail(f"{path} is not built; CI must build it first (tests/setup.sh)")
        pytest.skip(f"{os.path.basename(path)} not built at {path} (run `{build_hint}` or set its *_BIN variable)")
    return path


class ScriptedApi:
    """``synapse-scripted-api --script FILE --port 0`` as a context manager."""

    def __init__(self, script: dict, workdir: str, binary: Optional[str] = None) -> None:
        self.script_path = os.path.join(workdir, "script.json")
        with open(self.script_path, "w") as fh:
            json.dump(script, fh)
        self.log_path = os.path.join(workdir, "scripted-api.log")
        self.binary = binary or scripted_api_bin()
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""

    def start(self) -> "ScriptedApi":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "--script", self.script_path, "--port", "0"],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        self.url = read_ready_line(self.proc, 10, "synapse-scripted-api")["listening"]
        return self

    def requests(self) -> list[dict]:
        with urllib.request.urlopen(self.url + "/__requests", timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> "ScriptedApi":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class Daemon:
    """The real ``synapsed serve`` with a private socket and data dir."""

    def __init__(self, workdir: str, base_url: Optional[str] = None, api_key: Optional[str] = "test-key",
                 idle_s: Optional[int] = None, binary: Optional[str] = None, extra_env: Optional[dict] = None) -> None:
        self.workdir = workdir
        self.socket = os.path.join(workdir, "rt", "synapsed.sock")
        self.data_dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "synapsed.log")
        self.binary = binary or synapsed_bin()
        self.env = dict(os.environ)
        # A user's own config file must not leak into tests.
        self.env["XDG_CONFIG_HOME"] = os.path.join(workdir, "config-home")
        # ... nor the key in the user's OS keyring.
        self.env["SYNAPSE_KEYRING"] = "off"
        self.env.update({"SYNAPSE_SOCKET": self.socket, "SYNAPSE_DATA_DIR": self.data_dir,
                         "SYNAPSE_STREAM_IDLE_TIMEOUT_S": "20"})
        if base_url:
            self.env["ANTHROPIC_BASE_URL"] = base_url
        if api_key:
            self.env["ANTHROPIC_API_KEY"] = api_key
        self.env.update(extra_env or {})
        self.idle_s = idle_s
        self.proc: Optional[subprocess.Popen] = None
        self.ready: dict = {}

    def start(self) -> "Daemon":
        argv = [self.binary, "serve"]
        if self.idle_s is not None:
            argv += ["--exit-when-idle", str(self.idle_s)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                         env=self.env, start_new_session=True)
        self.ready = read_ready_line(self.proc, 10, "synapsed")
        return self

    def client(self):
        from synapse_houdini.rpc import RpcClient

        return RpcClient.connect(self.socket)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            client = self.client()
            try:
                client.call("daemon.shutdown", None, timeout=5)
            finally:
                client.close()
            self.proc.wait(10)
        except Exception:  # noqa: BLE001
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def log(self) -> str:
        try:
            with open(self.log_path) as fh:
                return fh.read()
        except OSError:
            return ""

    def __enter__(self) -> "Daemon":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ---------------------------------------------------------------- simulated Houdini

_cached: dict[str, Any] = {}


def _touch_node(tool_input: dict) -> dict:
    """A studio-style tool that keeps a node handle between calls (e.g. a pinned selection)."""
    import hou

    path = tool_input.get("path", "/stage/sphere1")
    if _cached.get("path") != path:
        _cached.update(path=path, node=hou.node(path))
    node = _cached["node"]
    if node is None:
        raise LookupError(f"no node at {path}")
    return {"name": node.name(), "path": node.path(), "type": node.type().name()}


def touch_tool():
    from synapse_houdini.tools import ToolDef

    return ToolDef(
        name="synapse_touch_pinned_node",
        description="Read the pinned node (kept between calls) and report its name, path and type.",
        input_schema={"type": "object", "properties": {"path": {"type": "string"}}},
        read_only=True,
        fn=_touch_node,
    )


class FakeHoudini:
    """Fake ``hou`` main thread + simulated /stage + the plugin connected as a host."""

    def __init__(self, socket_path: str, extra_tools: Optional[list] = None) -> None:
        self.socket_path = socket_path
        self.extra_tools = extra_tools or []
        self.scene = None
        self.host = None

    def start(self, register_timeout: float = 10.0) -> "FakeHoudini":
        import fake_scene
        import hou
        import synapse_houdini

        _cached.clear()
        hou.main.start()
        self.scene = fake_scene.build_demo_scene()
        self.host = synapse_houdini.start(socket_path=self.socket_path, is_main_thread=hou.main.is_main_thread,
                                          extra_tools=self.extra_tools)
        if not self.host.wait_registered(register_timeout):
            raise TimeoutError(f"plugin did not register: {synapse_houdini.status()}")
        return self

    def stop(self) -> None:
        import hou
        import synapse_houdini

        synapse_houdini.stop()
        hou.main.stop()

    def __enter__(self) -> "FakeHoudini":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def tool_result_blocks(request: dict) -> list[dict]:
    """The ``tool_result`` blocks of the last user message of a recorded API request."""
    messages = request["body"]["messages"]
    last = messages[-1]
    content = last.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def block_text(block: dict) -> str:
    """The text of a tool_result block (string content or text sub-blocks)."""
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return json.dumps(content)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll *predicate* until true or the deadline passes (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def tmpdir(prefix: str = "synapse-e2e-") -> str:
    return tempfile.mkdtemp(prefix=prefix)
