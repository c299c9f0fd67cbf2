"""Find, start and supervise ``synapsed`` without ever blocking Houdini.

* :func:`find_synapsed`: ``SYNAPSED_BIN``, then the package's ``bin/``, then ``PATH``.
* :func:`spawn_daemon`: ``synapsed serve --exit-when-idle N`` detached (Unix: a new
  session; Windows: no console window, detached, its own process group; no
  inherited handles but its standard ones; stdin the null device, stderr appended
  to a log file, see :func:`log_dir`), then read its one readiness line from stdout
  (``{"ready":true,"socket":PATH,"pid":N,"version":"x.y.z","protocol":1}``, ≤5 s).
  The API key goes to the child in its **environment** only: never argv, never logs.
* :class:`Supervisor`: a background thread that connects to a running daemon or
  spawns one, hands the connection to the host, and when it drops reconnects or
  respawns with backoff 0.5 s → 8 s. After 5 failures within 3 minutes it gives up
  and says so in the log and in :meth:`Supervisor.status`.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import select
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable, Mapping, Optional

from . import transport as _transport
from .rpc import RpcClient, default_socket_path

log = logging.getLogger("synapse_houdini.launcher")

READY_TIMEOUT_S = 5.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 8.0
GIVE_UP_CRASHES = 5
GIVE_UP_WINDOW_S = 180.0
#: A connection that lived this long resets the backoff to its start.
HEALTHY_AFTER_S = 30.0
DEFAULT_IDLE_EXIT_S = 300

#: Windows: read the readiness line on a thread (``select`` takes sockets only there).
READY_BY_THREAD = os.name == "nt"
IS_WINDOWS = os.name == "nt"

# Windows process creation flags (winbase.h).
CREATE_NEW_PROCESS_GROUP = 0x00000200
DETACHED_PROCESS = 0x00000008
CREATE_NO_WINDOW = 0x08000000

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class LaunchError(RuntimeError):
    """``synapsed`` could not be found, started, or did not report ready."""


# ------------------------------------------------------------------ discovery

def find_synapsed(explicit: Optional[str] = None) -> Optional[str]:
    """The ``synapsed`` executable to run, or None.

    Order: *explicit*, ``SYNAPSED_BIN``, ``<package>/bin/synapsed``, ``PATH``.
    """
    for candidate in (explicit, os.environ.get("SYNAPSED_BIN")):
        if candidate:
            return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None
    bundled = os.path.join(PACKAGE_ROOT, "bin", "synapsed.exe" if os.name == "nt" else "synapsed")
    if os.path.isfile(bundled) and os.access(bundled, os.X_OK):
        return bundled
    return shutil.which("synapsed")


def default_log_dir(windows: bool, env: Mapping[str, str]) -> str:
    """Where the daemon's log goes when ``SYNAPSE_LOG_DIR`` is unset.

    Windows: ``%LOCALAPPDATA%\\synapse\\logs`` (per user, not roamed); elsewhere
    ``$TMPDIR/synapse-<uid>-logs``.
    """
    if windows:
        local = env.get("LOCALAPPDATA") or os.path.join(env.get("USERPROFILE") or tempfile.gettempdir(), "AppData", "Local")
        return os.path.join(local, "synapse", "logs")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"synapse-{uid}-logs")


def log_dir() -> str:
    """The directory for the daemon's log (``$SYNAPSE_LOG_DIR``, else :func:`default_log_dir`); made if missing."""
    path = os.environ.get("SYNAPSE_LOG_DIR") or default_log_dir(IS_WINDOWS, os.environ)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def popen_platform_kwargs(windows: bool) -> dict[str, Any]:
    """``subprocess.Popen`` options that detach the daemon from Houdini.

    Unix: a new session (no controlling terminal, signals to Houdini's group miss
    it). Windows: no console window flashes up, no console is shared, and its own
    process group (Ctrl-C/Ctrl-Break sent to Houdini's group miss it). Both: no
    inherited file descriptors/handles beyond stdin/stdout/stderr
    (``close_fds=True`` restricts the handle list on Windows).
    """
    if windows:
        return {"creationflags": CREATE_NO_WINDOW | DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP, "close_fds": True}
    return {"start_new_session": True, "close_fds": True}


def get_api_key() -> Optional[str]:
    """The Anthropic key for a daemon this plugin starts: ``ANTHROPIC_API_KEY`` from the environment.

    Houdini has no secret store API (there is no ``hou.secure``), so the key
    reaches the daemon only through its environment. Never logged.
    """
    return os.environ.get("ANTHROPIC_API_KEY") or None


# ------------------------------------------------------------------ spawn

def _drain_and_reap(proc: subprocess.Popen) -> None:
    """Keep reading the child's stdout (so a later write never hits EPIPE) and reap it at exit."""
    try:
        assert proc.stdout is not None
        while os.read(proc.stdout.fileno(), 65536):
            pass
    except (OSError, ValueError):
        pass
    finally:
        try:
            proc.wait()
        except Exception:  # pragma: no cover - defensive
            pass


def _start_drain(proc: subprocess.Popen) -> None:
    threading.Thread(target=_drain_and_reap, args=(proc,), name="synapsed-stdout", daemon=True).start()


def _kill_and_reap(proc: subprocess.Popen) -> None:
    """Kill *proc* and reap it in the background (never waits here)."""
    try:
        proc.kill()
    except OSError:  # pragma: no cover - already gone
        pass
    _start_drain(proc)


def read_ready_line(proc: subprocess.Popen, timeout: float, what: str = "synapsed") -> dict:
    """Read the first stdout line of *proc* within *timeout* seconds and parse it as a JSON object.

    On success a background thread keeps draining stdout and reaps the child when
    it exits. On any failure (silence past the deadline, exit or stdout closed first,
    a line that is not a JSON object) the child is killed and reaped in the
    background and :class:`LaunchError` is raised. Never waits past the deadline.

    Unix waits with ``select``; Windows (:data:`READY_BY_THREAD`) with a thread
    that reads the line and then keeps draining.
    """
    assert proc.stdout is not None
    line = _first_line_by_thread(proc, timeout, what) if READY_BY_THREAD else _first_line_by_select(proc, timeout, what)
    return _parse_ready(proc, line, what, drain=not READY_BY_THREAD)


def _first_line_by_select(proc: subprocess.Popen, timeout: float, what: str) -> bytes:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _kill_and_reap(proc)
            raise LaunchError(f"{what} printed no readiness line within {timeout:g} s")
        ready_fds, _, _ = select.select([fd], [], [], remaining)
        if not ready_fds:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            try:
                code = proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_and_reap(proc)
                raise LaunchError(f"{what} closed its stdout without printing a readiness line") from None
            raise LaunchError(f"{what} exited with status {code} before it was ready")
        buf += chunk
    return buf.split(b"\n", 1)[0]


def _first_line_by_thread(proc: subprocess.Popen, timeout: float, what: str) -> bytes:
    """Read the first line on a thread that then drains stdout and reaps the child."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    first: "queue.Queue[Optional[bytes]]" = queue.Queue()

    def pump() -> None:
        buf, sent = b"", False
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                if not sent:
                    buf += chunk
                    if b"\n" in buf:
                        first.put(buf.split(b"\n", 1)[0])
                        sent, buf = True, b""
        except (OSError, ValueError):
            pass
        finally:
            if not sent:
                first.put(None)
            try:
                proc.wait()
            except Exception:  # pragma: no cover - defensive
                pass

    threading.Thread(target=pump, name="synapsed-stdout", daemon=True).start()
    try:
        line = first.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        _kill(proc)  # the pump thread sees end of stream and reaps it
        raise LaunchError(f"{what} printed no readiness line within {timeout:g} s") from None
    if line is None:
        try:
            code = proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise LaunchError(f"{what} closed its stdout without printing a readiness line") from None
        raise LaunchError(f"{what} exited with status {code} before it was ready")
    return line


def _kill(proc: subprocess.Popen) -> None:
    try:
        proc.kill()
    except OSError:  # pragma: no cover - already gone
        pass


def _parse_ready(proc: subprocess.Popen, line: bytes, what: str, drain: bool) -> dict:
    """Parse the readiness line; on failure kill the child (reaped by the drain)."""
    reap = _kill_and_reap if drain else _kill
    try:
        message = json.loads(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        reap(proc)
        raise LaunchError(f"{what}'s readiness line is not JSON: {line[:200]!r}") from exc
    if not isinstance(message, dict):
        reap(proc)
        raise LaunchError(f"{what}'s readiness line is not a JSON object: {line[:200]!r}")
    if drain:
        _start_drain(proc)
    return message


def spawn_daemon(
    binary: str,
    *,
    idle_exit_s: int = DEFAULT_IDLE_EXIT_S,
    socket_path: Optional[str] = None,
    env: Optional[dict[str, str]] = None,
    api_key: Optional[str] = None,
    ready_timeout_s: float = READY_TIMEOUT_S,
    log_path: Optional[str] = None,
) -> tuple[subprocess.Popen, dict[str, Any]]:
    """Start ``synapsed serve`` detached and return ``(process, readiness line)``.

    Raises :class:`LaunchError` (after killing and reaping the child) when it exits,
    stays silent past *ready_timeout_s*, or prints a line that is not a readiness line.
    """
    argv = [binary, "serve", "--exit-when-idle", str(int(idle_exit_s))]
    if socket_path:
        argv += ["--socket", socket_path]
    child_env = dict(os.environ if env is None else env)
    if api_key:
        child_env["ANTHROPIC_API_KEY"] = api_key  # environment only: never argv, never logged
    log_path = log_path or os.path.join(log_dir(), "synapsed.log")
    with open(log_path, "ab") as log_file:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=child_env,
                **popen_platform_kwargs(IS_WINDOWS),
            )
        except OSError as exc:
            raise LaunchError(f"could not run {binary}: {exc}") from exc
    try:
        ready = read_ready_line(proc, ready_timeout_s)
    except LaunchError as exc:
        raise LaunchError(f"{exc} (log: {log_path})") from exc
    if ready.get("ready") is not True or not ready.get("socket"):
        try:
            proc.kill()  # the stdout drain started by read_ready_line reaps it
        except OSError:  # pragma: no cover - already gone
            pass
        raise LaunchError(f"unexpected readiness line: {ready!r} (log: {log_path})")
    log.info("synapsed %s started (pid %s, socket %s)", ready.get("version"), ready.get("pid"), ready.get("socket"))
    return proc, ready


# ------------------------------------------------------------------ supervisor

class Supervisor:
    """Keeps one live connection to ``synapsed`` on a background thread.

    ``make_client(path)`` opens an :class:`RpcClient` (raising ``OSError`` when
    nothing answers); ``on_connected(client, info)`` runs on the supervisor thread
    for every new connection (the host registers there); ``on_disconnected()`` runs
    there when an established connection is lost, before any reconnection (the host
    is no longer registered); ``on_gave_up(reason)`` runs once if the supervisor
    gives up.
    """

    def __init__(
        self,
        make_client: Callable[[str], RpcClient],
        on_connected: Callable[[RpcClient, dict], None],
        *,
        socket_path: Optional[str] = None,
        synapsed_bin: Optional[str] = None,
        idle_exit_s: int = DEFAULT_IDLE_EXIT_S,
        env: Optional[dict[str, str]] = None,
        api_key_provider: Callable[[], Optional[str]] = get_api_key,
        on_gave_up: Optional[Callable[[str], None]] = None,
        on_disconnected: Optional[Callable[[], None]] = None,
    ) -> None:
        self._make_client = make_client
        self._on_connected = on_connected
        self._explicit_socket = socket_path
        self._synapsed_bin = synapsed_bin
        self._idle_exit_s = idle_exit_s
        self._env = env
        self._api_key_provider = api_key_provider
        self._on_gave_up = on_gave_up
        self._on_disconnected = on_disconnected
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client: Optional[RpcClient] = None
        self._thread: Optional[threading.Thread] = None
        self._failures: collections.deque[float] = collections.deque()
        self._status: dict[str, Any] = {
            "state": "stopped",
            "socket": None,
            "daemon_pid": None,
            "daemon_version": None,
            "spawned_pid": None,
            "connects": 0,
            "restarts": 0,
            "failures_recent": 0,
            "last_error": None,
            "log_file": None,
        }

    # ------------------------------------------------------------ control

    def start(self) -> None:
        """Start the background thread (returns at once)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and not self._stop.is_set():
                return
            # A fresh stop event per thread: a thread still winding down from an
            # earlier stop() keeps its own (set) event and exits on its own.
            self._stop = threading.Event()
            self._status["state"] = "starting"
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="synapse-supervisor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop supervising and close the connection (the daemon exits when idle).

        Never waits for the supervisor thread (this may run on Houdini's main
        thread): the thread checks its stop event under the lock and closes a
        connection it opens after this call itself, then exits.
        """
        with self._lock:
            self._stop.set()
            client, self._client = self._client, None
            self._status["state"] = "stopped"
        if client is not None:
            client.close()

    @property
    def client(self) -> Optional[RpcClient]:
        with self._lock:
            return self._client

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._status)

    def _set(self, **fields: Any) -> None:
        with self._lock:
            self._status.update(fields)

    # ------------------------------------------------------------ loop

    def _socket_path(self) -> str:
        return self._explicit_socket or default_socket_path()

    def _connect_or_spawn(self, stop_event: threading.Event) -> tuple[RpcClient, dict]:
        path = self._socket_path()
        try:
            return self._make_client(path), {"socket": path, "spawned": False}
        except TimeoutError:
            if _transport.IS_WINDOWS:
                # Every instance of the pipe stayed busy: a daemon is there. Try
                # again after the backoff rather than start a second one.
                raise
        except OSError:
            pass  # nothing answers: start one
        if stop_event.is_set():
            # stop() ran while we were trying to connect: never start a daemon after it.
            raise LaunchError("stopped")
        binary = find_synapsed(self._synapsed_bin)
        if binary is None:
            raise LaunchError(
                "synapsed not found: set SYNAPSED_BIN, put it in the package's bin/ directory, or on PATH"
            )
        log_path = os.path.join(log_dir(), "synapsed.log")
        self._set(log_file=log_path)
        proc, ready = spawn_daemon(
            binary,
            idle_exit_s=self._idle_exit_s,
            socket_path=self._explicit_socket,
            env=self._env,
            api_key=self._api_key_provider(),
            log_path=log_path,
        )
        self._set(spawned_pid=proc.pid)
        return self._make_client(ready["socket"]), {**ready, "spawned": True}

    def _record_failure(self, reason: str) -> bool:
        """Count a failure; True when the supervisor must give up."""
        now = time.monotonic()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > GIVE_UP_WINDOW_S:
            self._failures.popleft()
        self._set(last_error=reason, failures_recent=len(self._failures))
        return len(self._failures) >= GIVE_UP_CRASHES

    def _give_up(self, reason: str) -> None:
        message = (
            f"Synapse gave up on synapsed after {GIVE_UP_CRASHES} failures within "
            f"{int(GIVE_UP_WINDOW_S)} s (last: {reason}); call synapse_houdini.start() to try again"
        )
        log.error(message)
        self._set(state="gave_up", last_error=message)
        if self._on_gave_up is not None:
            try:
                self._on_gave_up(message)
            except Exception:  # pragma: no cover - defensive
                log.exception("on_gave_up failed")

    def _run(self, stop_event: threading.Event) -> None:
        delay = BACKOFF_START_S
        first = True
        while not stop_event.is_set():
            if not first:
                self._set_state_if_current(stop_event, "reconnecting")
                if stop_event.wait(delay):
                    break
                delay = min(delay * 2, BACKOFF_MAX_S)
            first = False
            try:
                client, info = self._connect_or_spawn(stop_event)
            except Exception as exc:  # noqa: BLE001 - LaunchError, OSError, ...
                if stop_event.is_set():
                    break
                log.warning("synapse: could not reach synapsed: %s", exc)
                if self._record_failure(str(exc)):
                    self._give_up(str(exc))
                    return
                continue
            connected_at = time.monotonic()
            with self._lock:
                if stop_event.is_set():
                    # stop() ran while we were connecting: this connection is ours to close.
                    late: Optional[RpcClient] = client
                else:
                    late = None
                    self._client = client
                    connects = self._status["connects"] + 1
                    self._status.update(
                        state="connected",
                        socket=info.get("socket"),
                        daemon_pid=info.get("pid", self._status.get("daemon_pid")),
                        daemon_version=info.get("version", self._status.get("daemon_version")),
                        connects=connects,
                        restarts=max(0, connects - 1),
                    )
            if late is not None:
                late.close()
                break
            try:
                self._on_connected(client, info)
            except Exception as exc:  # noqa: BLE001
                client.close()
                with self._lock:
                    if self._client is client:
                        self._client = None
                if stop_event.is_set():
                    break
                log.warning("synapse: setting up the connection failed: %s", exc)
                if self._record_failure(f"setup failed: {exc}"):
                    self._give_up(str(exc))
                    return
                continue
            client.wait_closed()
            with self._lock:
                if self._client is client:
                    self._client = None
            if self._on_disconnected is not None:
                try:
                    self._on_disconnected()
                except Exception:  # pragma: no cover - defensive
                    log.exception("on_disconnected failed")
            if stop_event.is_set():
                break
            if time.monotonic() - connected_at >= HEALTHY_AFTER_S:
                delay = BACKOFF_START_S
            log.warning("synapse: connection to synapsed lost; reconnecting")
            if self._record_failure("connection to synapsed lost"):
                self._give_up("connection to synapsed lost")
                return
        self._set_state_if_current(stop_event, "stopped")

    def _set_state_if_current(self, stop_event: threading.Event, state: str) -> None:
        """Set the state, unless a newer start() owns the status, it gave up, or (for any
        state but "stopped") this thread was told to stop."""
        with self._lock:
            if self._stop is not stop_event or self._status["state"] == "gave_up":
                return
            if state == "stopped" or not stop_event.is_set():
                self._status["state"] = state
