"""A fake ``hou`` module for tests, the demo and the benchmark (NOT shipped).

Its "main thread" is a real thread pumping a deferred queue, like Houdini's UI
event loop: ``hdefereval.executeDeferred`` enqueues, :data:`main` runs. The scene
is a small simulated node graph (``hou_nodes``: OBJ/SOP/LOP networks, node types,
parms, flags, an undo stack), SOP geometry with real attribute values
(``hou_geometry``) and ``hou.ui`` with a Scene Viewer whose flipbook writes a real
PNG (``hou_ui``). LOP nodes' ``stage()``/``lastModifiedPrims()`` come from real USD
stages (``usd-core``) when ``pxr`` is importable (see ``fake_scene``).

Every public name here (module level and class methods) exists in the real
module with a compatible signature: ``test_api_fidelity`` checks it against the
public ``types-houdini`` stubs. The only exceptions are the test controls listed
in :data:`TEST_CONTROLS` (the fake main loop, ``reset``...).

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


class InvalidInput(Error):
    """A hou call got an invalid argument (e.g. a bad node name)."""


class InvalidSize(Error):
    """A sequence of the wrong length was given (e.g. to ``ParmTuple.set``)."""


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


def applicationVersion(include_patch: bool = False) -> tuple[int, int, int]:
    return (20, 5, 410)



#: Public names of this fake that the real module does not have: test controls only.
TEST_CONTROLS = frozenset({"MainLoop", "NotOnMainThread", "TEST_CONTROLS", "main", "reset", "set_ui_available", "strict"})


class EnumValue:
    """``hou.EnumValue``: compared by identity, ``name()`` is its name."""

    def __init__(self, enum: str, name: str) -> None:
        self._enum = enum
        self._name = name

    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"hou.{self._enum}.{self._name}"


def _enum(cls_name: str, *names: str) -> type:
    return type(cls_name, (), {n: EnumValue(cls_name, n) for n in names})


attribData = _enum("attribData", "Dict", "Float", "Int", "String")
attribType = _enum("attribType", "Global", "Point", "Prim", "Vertex")
paneTabType = _enum("paneTabType", "NetworkEditor", "Parm", "SceneViewer", "PythonShell", "Textport")
parmTemplateType = _enum("parmTemplateType", "Float", "Folder", "Int", "Menu", "String", "Toggle")
parmNamingScheme = _enum("parmNamingScheme", "Base1", "BeginEnd", "MaxMin", "MinMax", "RGBA", "StartEnd", "UVW",
                         "XYWH", "XYZW")
exprLanguage = _enum("exprLanguage", "Hscript", "Python")


# ------------------------------------------------------------------ undo


class _UndoEntry:
    __slots__ = ("label", "undo_fns")

    def __init__(self, label: str) -> None:
        self.label = label
        self.undo_fns: list[Callable[[], None]] = []


class undos:
    """``hou.undos``: one entry per change, or one per ``group()`` that changed something.

    Mutating fake calls record how to reverse themselves with :func:`_record_undo`.
    An empty group leaves no entry (like Houdini). ``groups``/``threads`` record
    every ``group()`` call for tests.
    """

    _test_records = ("groups", "threads")
    groups: list = []
    threads: list = []
    _stack: list = []  # oldest first
    _redo: list = []
    _open: list = []  # open groups (nested groups merge into the outermost)

    @staticmethod
    @contextlib.contextmanager
    def group(label: str, editor: Any = None) -> Iterator[None]:
        _assert_main()
        undos.groups.append(label)
        undos.threads.append(threading.get_ident())
        undos._open.append(_UndoEntry(label))
        try:
            yield
        finally:
            entry = undos._open.pop()
            if undos._open:
                undos._open[-1].undo_fns.extend(entry.undo_fns)
            elif entry.undo_fns:
                undos._stack.append(entry)
                undos._redo.clear()

    @staticmethod
    def undoLabels() -> tuple[str, ...]:
        _assert_main()
        return tuple(e.label for e in reversed(undos._stack))

    @staticmethod
    def redoLabels() -> tuple[str, ...]:
        _assert_main()
        return tuple(e.label for e in reversed(undos._redo))

    @staticmethod
    def performUndo() -> bool:
        _assert_main()
        if not undos._stack:
            return False
        entry = undos._stack.pop()
        global _undoing
        _undoing = True
        try:
            for fn in reversed(entry.undo_fns):
                fn()
        finally:
            _undoing = False
        undos._redo.append(entry)
        return True

    @staticmethod
    def areEnabled() -> bool:
        return True

    @staticmethod
    def clear() -> None:
        undos._stack.clear()
        undos._redo.clear()


_undoing = False


def _record_undo(label: str, undo_fn: Callable[[], None]) -> None:
    """Called by fake mutations: how to reverse the change just made."""
    if _undoing:
        return
    if undos._open:
        undos._open[-1].undo_fns.append(undo_fn)
    else:
        entry = _UndoEntry(label)
        entry.undo_fns.append(undo_fn)
        undos._stack.append(entry)
        undos._redo.clear()


# ------------------------------------------------------------------ app state


class hipFile:
    """``hou.hipFile``: the scene file (``save`` writes a small real file)."""

    _path = "/tmp/fake_project/scene_v001.hip"
    _dirty = True

    @staticmethod
    def path() -> str:
        return hipFile._path

    @staticmethod
    def basename() -> str:
        return hipFile._path.rsplit("/", 1)[-1]

    @staticmethod
    def hasUnsavedChanges() -> bool:
        return hipFile._dirty

    @staticmethod
    def save(file_name: Optional[str] = None, save_to_recent_files: bool = True) -> None:
        _assert_main()
        target = file_name or hipFile._path
        try:
            with open(target, "w") as fh:
                fh.write("fake hip file\n")
        except OSError as exc:
            raise OperationFailed(f"Unable to save {target}: {exc.strerror}") from exc
        hipFile._path = target
        hipFile._dirty = False


_frame = 1001.0


def frame(full_precision: bool = False) -> float:
    _assert_main()
    return _frame


def setFrame(frame: float) -> None:
    _assert_main()
    global _frame
    _frame = float(frame)


def fps() -> float:
    return 24.0


class playbar:
    @staticmethod
    def frameRange() -> "Vector2":
        return Vector2((1001.0, 1100.0))


class _Vector:
    _n = 0

    def __init__(self, values: Any = None) -> None:
        vals = tuple(float(v) for v in (values or (0.0,) * self._n))
        assert len(vals) == self._n
        self._v = vals

    def __getitem__(self, index: int) -> float:
        return self._v[index]

    def __len__(self) -> int:
        return self._n

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<hou.{type(self).__name__} {list(self._v)}>"


class Vector2(_Vector):
    _n = 2


class Vector3(_Vector):
    _n = 3


# The node graph, geometry and UI parts (they import this module's core above).
from hou_geometry import Attrib, BoundingBox, Geometry, Point, Prim  # noqa: E402,F401
from hou_nodes import LopNode, Node, ObjNode, OpNode, SopNode, _nodes, _selected, node, selectedNodes  # noqa: E402,F401
from hou_parms import Parm, ParmTuple  # noqa: E402,F401
from hou_types import NodeType, NodeTypeCategory, ParmTemplate, ParmTemplateGroup, nodeType, nodeTypeCategories  # noqa: E402,F401
from hou_ui import FlipbookSettings, PaneTab, SceneViewer, ui  # noqa: E402,F401


def reset() -> None:
    """Forget every node and recorded call (between tests)."""
    global _frame
    _nodes.clear()
    _selected.clear()
    ui.calls.clear()
    ui._reset()
    undos.groups.clear()
    undos.threads.clear()
    undos._stack.clear()
    undos._redo.clear()
    undos._open.clear()
    hipFile._path = "/tmp/fake_project/scene_v001.hip"
    _frame = 1001.0
    set_ui_available(True)
