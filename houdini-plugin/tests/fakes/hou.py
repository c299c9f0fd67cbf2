"""A fake ``hou`` module for tests, the demo and the benchmark (NOT shipped).

Its "main thread" is a real thread pumping a deferred queue, like Houdini's UI
event loop: ``hdefereval.executeDeferred`` enqueues, :data:`main` runs. Node
objects are a small simulated LOP network (see ``fake_scene``) whose
``lastModifiedPrims()`` come from real USD stages (``usd-core``) when ``pxr`` is
importable.

With :data:`strict` True (the default) every node method asserts it runs on the
fake main thread, the way HOM work is meant to be marshalled there.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Any, Callable, Iterator, Optional


class Error(Exception):
    """Base of hou exceptions."""


class ObjectWasDeleted(Error):
    """Raised when a hou object's underlying Houdini object was deleted."""


class OperationFailed(Error):
    """A hou operation failed."""


class NotOnMainThread(AssertionError):
    """Strict mode: a node method ran off the fake main thread."""


# ------------------------------------------------------------------ main loop

_STOP = object()


class MainLoop:
    """The fake UI main thread: a real thread running queued callables in order."""

    def __init__(self) -> None:
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._thread: Optional[threading.Thread] = None
        self.ident: Optional[int] = None
        self.errors: list[BaseException] = []
        self.ran = 0

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="fake-houdini-main", daemon=True)
        self._thread.start()
        started = threading.Event()
        self._queue.put(started.set)
        assert started.wait(5), "the fake main thread did not start"

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def _loop(self) -> None:
        self.ident = threading.get_ident()
        while True:
            fn = self._queue.get()
            if fn is _STOP:
                return
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - like Houdini, keep pumping
                self.errors.append(exc)
            self.ran += 1

    def enqueue(self, fn: Callable[[], Any]) -> None:
        self._queue.put(fn)

    def pending(self) -> int:
        """Jobs queued and not started yet (for tests to wait on, instead of sleeping)."""
        return self._queue.qsize()

    def is_main_thread(self) -> bool:
        return threading.get_ident() == self.ident

    def run_sync(self, fn: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Test helper: run *fn* on the main thread and return its result."""
        if self.is_main_thread():
            return fn()
        box: dict[str, Any] = {}
        done = threading.Event()

        def job() -> None:
            try:
                box["result"] = fn()
            except BaseException as exc:  # noqa: BLE001
                box["error"] = exc
            finally:
                done.set()

        self.enqueue(job)
        if not done.wait(timeout):
            raise TimeoutError("fake main thread did not run the job")
        if "error" in box:
            raise box["error"]
        return box.get("result")

    @contextlib.contextmanager
    def blocked(self) -> Iterator[threading.Event]:
        """Block the main thread (a long cook, a modal dialog) until the block exits."""
        release = threading.Event()
        entered = threading.Event()

        def hold() -> None:
            entered.set()
            release.wait(60)

        self.enqueue(hold)
        assert entered.wait(5), "the fake main thread did not reach the block"
        try:
            yield release
        finally:
            release.set()

    def latency(self, timeout: float = 5.0) -> float:
        """Seconds from enqueue to run of a no-op (the UI's responsiveness)."""
        t0 = time.perf_counter()
        done = threading.Event()
        box: dict[str, float] = {}

        def mark() -> None:
            box["t"] = time.perf_counter()
            done.set()

        self.enqueue(mark)
        if not done.wait(timeout):
            return float("inf")
        return box["t"] - t0


main = MainLoop()
strict = True


def _assert_main() -> None:
    if strict and main.ident is not None and not main.is_main_thread():
        raise NotOnMainThread(f"hou called off the main thread ({threading.current_thread().name})")


# ------------------------------------------------------------------ app state

_ui_available = True


def isUIAvailable() -> bool:
    return _ui_available


def set_ui_available(value: bool) -> None:
    global _ui_available
    _ui_available = value


def applicationVersionString() -> str:
    return "20.5.410"


def applicationVersion() -> tuple[int, int, int]:
    return (20, 5, 410)


class _HipFile:
    _path = "/tmp/fake_project/scene_v001.hip"

    def path(self) -> str:
        return self._path


hipFile = _HipFile()
_frame = 1001.0


def frame() -> float:
    _assert_main()
    return _frame


def fps() -> float:
    return 24.0


class _Playbar:
    def frameRange(self) -> tuple[float, float]:
        return (1001.0, 1100.0)


playbar = _Playbar()


class _UI:
    """``hou.ui`` with the modal methods (they record calls and return defaults)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def displayMessage(self, text: str, *args: Any, **kwargs: Any) -> int:
        self.calls.append("displayMessage")
        return 0

    def displayConfirmation(self, text: str, *args: Any, **kwargs: Any) -> bool:
        self.calls.append("displayConfirmation")
        return True

    def displayFileDependencyDialog(self, *args: Any, **kwargs: Any) -> tuple:
        self.calls.append("displayFileDependencyDialog")
        return (True, ())

    def selectFromList(self, choices: Any, *args: Any, **kwargs: Any) -> tuple:
        self.calls.append("selectFromList")
        return ()

    def selectFromTree(self, choices: Any, *args: Any, **kwargs: Any) -> tuple:
        self.calls.append("selectFromTree")
        return ()

    def selectFile(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append("selectFile")
        return ""

    def selectNode(self, *args: Any, **kwargs: Any) -> Optional[str]:
        self.calls.append("selectNode")
        return None

    def readInput(self, message: str, *args: Any, **kwargs: Any) -> tuple:
        self.calls.append("readInput")
        return (0, "")

    def readMultiInput(self, message: str, input_labels: Any, *args: Any, **kwargs: Any) -> tuple:
        self.calls.append("readMultiInput")
        return (0, ())


ui = _UI()


class _Undos:
    def __init__(self) -> None:
        self.groups: list[str] = []
        self.threads: list[int] = []

    @contextlib.contextmanager
    def group(self, label: str) -> Iterator[None]:
        self.groups.append(label)
        self.threads.append(threading.get_ident())
        yield


undos = _Undos()


# ------------------------------------------------------------------ nodes

_nodes: dict[str, "Node"] = {}


class NodeType:
    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name


class Node:
    """A fake ``hou.Node`` (LOP flavour)."""

    def __init__(self, name: str, type_name: str, parent: Optional["Node"] = None) -> None:
        self._name = name
        self._type = NodeType(type_name)
        self._parent = parent
        self._children: list[Node] = []
        self._inputs: list[Optional[Node]] = []
        self._outputs: list[Node] = []
        self._display = False
        self._bypass = False
        self._errors: list[str] = []
        self._warnings: list[str] = []
        self._prims: list[Any] = []
        self._deleted = False
        self._fail_on: Optional[str] = None  # method name that raises RuntimeError
        self._path = "/" + name if parent is None or parent._path == "/" else f"{parent._path}/{name}"
        if parent is None and name == "":
            self._path = "/"
        if parent is not None:
            parent._children.append(self)
        _nodes[self._path] = self

    # -- checks
    def _check(self, method: str = "") -> None:
        _assert_main()
        if self._deleted:
            raise ObjectWasDeleted("Attempt to access an object that no longer exists in Houdini.")
        if self._fail_on is not None and method == self._fail_on:
            raise RuntimeError(f"simulated failure in {method}() of {self._path}")

    # -- hou.Node API subset
    def path(self) -> str:
        self._check("path")
        return self._path

    def name(self) -> str:
        self._check("name")
        return self._name

    def type(self) -> NodeType:
        self._check("type")
        return self._type

    def children(self) -> tuple["Node", ...]:
        self._check("children")
        return tuple(c for c in self._children if not c._deleted)

    def inputs(self) -> tuple[Optional["Node"], ...]:
        self._check("inputs")
        return tuple(None if (n is not None and n._deleted) else n for n in self._inputs)

    def outputs(self) -> tuple["Node", ...]:
        self._check("outputs")
        return tuple(o for o in self._outputs if not o._deleted)

    def isDisplayFlagSet(self) -> bool:
        self._check("isDisplayFlagSet")
        return self._display

    def isBypassed(self) -> bool:
        self._check("isBypassed")
        return self._bypass

    def errors(self) -> tuple[str, ...]:
        self._check("errors")
        return tuple(self._errors)

    def warnings(self) -> tuple[str, ...]:
        self._check("warnings")
        return tuple(self._warnings)

    def lastModifiedPrims(self) -> tuple[Any, ...]:
        self._check("lastModifiedPrims")
        return tuple(self._prims)

    def setInput(self, index: int, node: Optional["Node"]) -> None:
        while len(self._inputs) <= index:
            self._inputs.append(None)
        self._inputs[index] = node
        if node is not None:
            node._outputs.append(self)

    def setDisplayFlag(self, on: bool) -> None:
        self._display = on

    def bypass(self, on: bool) -> None:
        self._bypass = on

    def destroy(self) -> None:
        for child in list(self._children):
            child.destroy()
        self._deleted = True
        _nodes.pop(self._path, None)


def node(path: str) -> Optional[Node]:
    _assert_main()
    found = _nodes.get(path)
    return None if found is None or found._deleted else found


def reset() -> None:
    """Forget every node and recorded call (between tests)."""
    _nodes.clear()
    ui.calls.clear()
    undos.groups.clear()
    undos.threads.clear()
    set_ui_available(True)
