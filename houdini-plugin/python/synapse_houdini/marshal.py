"""Run tool bodies on Houdini's main thread without ever deadlocking it.

Design §2 lessons 2, 4 and 6, in code:

* **Never** ``hdefereval.executeInMainThreadWithResult`` (it waits forever, with no
  thread check, and passes results through module globals). A call is queued with
  ``hdefereval.executeDeferred``; the caller waits on a per-call
  ``threading.Event`` for at most the call's timeout. When the time is up the job
  is marked *abandoned*; the flag is checked, under a lock, just before the body
  would start, so a timed-out job never runs late.
* Already on the main thread: run inline (queueing and waiting would deadlock).
* Opted-in headless mode (``SYNAPSE_ALLOW_HEADLESS=1`` in hython): call directly,
  serialised by a lock. ``hdefereval`` is not imported there: importing it fails
  without a UI.
* Modal dialogs: while a tool body runs, and only then, the ``hou.ui`` modal
  methods are replaced by raisers, on the main thread, and restored afterwards,
  even on exceptions. The artist's own dialogs (outside tool bodies) keep working.
* Busy main thread: after two consecutive timeouts, calls fail at once with
  ``MainThreadBusy`` until a probe (a tiny deferred no-op) has run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Callable, Iterator, Optional

from ._hou import import_hou
from .errors import MainThreadBusy, MainThreadTimeout, ModalDialogSuppressed, ToolCancelled

log = logging.getLogger("synapse_houdini.marshal")

#: The ``hou.ui`` methods that open modal dialogs (lesson 4).
MODAL_UI_METHODS = (
    "displayMessage",
    "displayConfirmation",
    "displayFileDependencyDialog",
    "selectFromList",
    "selectFromTree",
    "selectFile",
    "selectNode",
    "readInput",
    "readMultiInput",
)

#: Consecutive timeouts after which the main thread is reported busy (lesson 6).
BUSY_AFTER_TIMEOUTS = 2

DEFAULT_TIMEOUT_S = 30.0


def _default_is_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# ----------------------------------------------------------------- dialogs

_suppress_depth = 0  # only touched on the main thread (or the headless lock)


def _raiser(name: str) -> Callable[..., Any]:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise ModalDialogSuppressed(
            f"hou.ui.{name} was called during a Synapse tool call; modal dialogs are "
            "disabled inside tool bodies because they would block Houdini's main thread "
            "waiting for the artist. Pass the needed values as tool input instead."
        )

    refuse.__name__ = f"synapse_suppressed_{name}"
    return refuse


#: One raiser per method, made once (a tool call only swaps them in).
_RAISERS = {name: _raiser(name) for name in MODAL_UI_METHODS}
_MISSING = object()


def _suppress_enter(hou: Any) -> Optional[tuple[Any, dict[str, Any]]]:
    """Swap the raisers in (outermost call only); the token for :func:`_suppress_exit`."""
    global _suppress_depth
    ui = getattr(hou, "ui", None) if hou is not None else None
    if ui is None:
        return None
    saved: dict[str, Any] = {}
    if _suppress_depth == 0:
        for name in MODAL_UI_METHODS:
            original = getattr(ui, name, _MISSING)
            if original is _MISSING:
                continue
            try:
                setattr(ui, name, _RAISERS[name])
            except (AttributeError, TypeError):  # pragma: no cover - read-only module
                continue
            saved[name] = original
    _suppress_depth += 1
    return ui, saved


def _suppress_exit(token: Optional[tuple[Any, dict[str, Any]]]) -> None:
    """Undo :func:`_suppress_enter`: the originals are back."""
    global _suppress_depth
    if token is None:
        return
    ui, saved = token
    _suppress_depth -= 1
    for name, original in saved.items():
        setattr(ui, name, original)


@contextlib.contextmanager
def suppress_modal_dialogs(hou: Any = None) -> Iterator[None]:
    """Replace the ``hou.ui`` modal methods with raisers for the duration of the block.

    Re-entrant (an inline nested call keeps the outer replacement). Restores the
    originals even when the block raises. Does nothing when ``hou.ui`` is absent.
    """
    token = _suppress_enter(hou if hou is not None else import_hou())
    try:
        yield
    finally:
        _suppress_exit(token)


# ----------------------------------------------------------------- jobs

class Job:
    """One tool body waiting for, running on, or done with the main thread."""

    QUEUED, RUNNING, FINISHED, ABANDONED, CANCELLED = "queued", "running", "finished", "abandoned", "cancelled"

    def __init__(self, fn: Callable[[], Any], label: str = "tool") -> None:
        self.fn = fn
        self.label = label
        self.state = Job.QUEUED
        self.result: Any = None
        self.exc: Optional[BaseException] = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        #: ``time.monotonic()`` when :meth:`Marshal.submit` took it: its timeout counts from here.
        self.submitted_at: Optional[float] = None
        #: Called with the job once it is done (finished, on the main thread; or cancelled,
        #: on the cancelling thread). Must not wait (ADR 0036).
        self.on_done: Optional[Callable[["Job"], None]] = None

    def cancel(self) -> bool:
        """Drop the job if it has not started; True if it will never run."""
        with self._lock:
            if self.state != Job.QUEUED:
                return self.state in (Job.ABANDONED, Job.CANCELLED)
            self.state = Job.CANCELLED
            self.exc = ToolCancelled(f"{self.label}: cancelled before it started")
        self.done.set()
        self._notify_done()
        return True

    def _notify_done(self) -> None:
        # Taken, not just read: the callback usually holds what holds this job (the
        # call's record), and letting go of it here frees the call by reference
        # counting instead of leaving a cycle for the collector (ADR 0039).
        on_done, self.on_done = self.on_done, None
        if on_done is not None:
            try:
                on_done(self)
            except Exception:  # pragma: no cover - defensive: never into Houdini's event loop
                log.exception("%s: on_done failed", self.label)

    def abandon(self) -> bool:
        """Mark a timed-out job so that it never starts; False if it already started."""
        with self._lock:
            if self.state == Job.QUEUED:
                self.state = Job.ABANDONED
                return True
            return self.state in (Job.ABANDONED, Job.CANCELLED)

    def run(self, hou: Any = None) -> None:
        """Run the body now (on the main thread), unless abandoned or cancelled."""
        with self._lock:
            if self.state != Job.QUEUED:
                return  # abandoned after a timeout, or cancelled: never run late
            self.state = Job.RUNNING
        try:
            # The context manager's work without its generator (main-thread time per call).
            token = _suppress_enter(hou if hou is not None else import_hou())
            try:
                self.result = self.fn()
            finally:
                _suppress_exit(token)
        except BaseException as exc:  # noqa: BLE001 - reported to the model
            self.exc = exc
        finally:
            with self._lock:
                self.state = Job.FINISHED
            self.done.set()
        self._notify_done()

    def outcome(self) -> Any:
        """The body's result, or raise its exception."""
        if self.exc is not None:
            raise self.exc
        return self.result


class Marshal:
    """Runs callables on Houdini's main thread with a timeout (see module docs).

    ``is_main_thread`` and ``defer`` are injectable so that tests (and the demo)
    can use a fake main thread; by default the main thread is Python's main thread
    and ``defer`` is ``hdefereval.executeDeferred``, imported lazily.
    """

    def __init__(
        self,
        *,
        headless: bool = False,
        is_main_thread: Optional[Callable[[], bool]] = None,
        defer: Optional[Callable[[Callable[[], None]], None]] = None,
    ) -> None:
        self.headless = headless
        self.is_main_thread = is_main_thread or _default_is_main_thread
        self._defer = defer
        self._state_lock = threading.Lock()
        # Re-entrant: a tool body may itself call ``marshal.run`` (inline, like on the main thread).
        self._headless_lock = threading.RLock()
        self._consecutive_timeouts = 0
        self._probe_pending = False
        self._hou = import_hou()
        if not headless and defer is None:
            import hdefereval  # type: ignore[import-not-found]  # fails without a UI, by design

            self._defer = hdefereval.executeDeferred

    # ------------------------------------------------------------- status

    @property
    def busy(self) -> bool:
        """True while calls fail fast with ``MainThreadBusy``."""
        with self._state_lock:
            return self._consecutive_timeouts >= BUSY_AFTER_TIMEOUTS

    @property
    def consecutive_timeouts(self) -> int:
        with self._state_lock:
            return self._consecutive_timeouts

    # ------------------------------------------------------------- probe

    def _probe_ran(self) -> None:
        with self._state_lock:
            self._consecutive_timeouts = 0
            self._probe_pending = False
        log.info("main thread answered the probe; tool calls resume")

    def _ensure_probe_locked(self) -> None:
        if self._probe_pending or self._defer is None:
            return
        self._probe_pending = True
        try:
            self._defer(self._probe_ran)
        except Exception:  # pragma: no cover - defensive
            self._probe_pending = False
            log.exception("could not queue the main-thread probe")

    # ------------------------------------------------------------- run

    def run(self, fn: Callable[[], Any], timeout_s: Optional[float] = None, label: str = "tool") -> Any:
        """Run *fn* on the main thread and return its result (or raise its exception)."""
        return self.run_job(Job(fn, label), timeout_s)

    def run_job(self, job: Job, timeout_s: Optional[float] = None) -> Any:
        """Run *job* on the main thread within *timeout_s* (default 30 s).

        Raises ``MainThreadTimeout`` when the time runs out (the job is abandoned if
        it had not started; if it had, it finishes in the background and its result
        is dropped), ``MainThreadBusy`` after two consecutive timeouts until a probe
        has run, ``ToolCancelled`` if the job was cancelled first, or whatever the
        body raised. The same as :meth:`submit` then :meth:`wait_job`.
        """
        return self.wait_job(job, timeout_s, self.submit(job))

    def submit(self, job: Job) -> bool:
        """Queue *job* for the main thread and return at once (any thread; never waits).

        True when it was queued (``hdefereval.executeDeferred``); False when
        :meth:`wait_job` must run it itself (headless mode, or called on the main
        thread, where queueing and then waiting would deadlock). Raises
        ``MainThreadBusy`` after two consecutive timeouts until a probe has run.
        The timeout of :meth:`wait_job` counts from here.
        """
        job.submitted_at = time.monotonic()
        if self.headless or self.is_main_thread():
            return False
        with self._state_lock:
            if self._consecutive_timeouts >= BUSY_AFTER_TIMEOUTS:
                self._ensure_probe_locked()
                raise MainThreadBusy(
                    f"Houdini's main thread is busy: the last {self._consecutive_timeouts} tool calls "
                    "timed out waiting for it (the artist may be cooking, rendering or in a dialog). "
                    "Calls fail at once until it responds again; wait and retry later."
                )
        assert self._defer is not None
        self._defer(lambda: job.run(self._hou))
        return True

    def wait_job(self, job: Job, timeout_s: Optional[float] = None, queued: bool = True) -> Any:
        """The outcome of a job given to :meth:`submit` (*queued* is what it returned),
        waiting at most *timeout_s* from the submit (see :meth:`run_job`)."""
        timeout = self.timeout_of(timeout_s)
        if not queued:
            if self.headless:
                with self._headless_lock:
                    job.run(self._hou)
                return job.outcome()
            if self.is_main_thread():
                job.run(self._hou)  # inline: waiting here would deadlock
                return job.outcome()
            self.submit(job)  # submitted on the main thread, waited for on another
        if job.done.wait(max(0.0, self.deadline(job, timeout) - time.monotonic())):
            return self.settle(job)
        return self.expire(job, timeout)

    @staticmethod
    def timeout_of(timeout_s: Optional[float]) -> float:
        """The timeout :meth:`wait_job` applies for *timeout_s* (the default when unset)."""
        return DEFAULT_TIMEOUT_S if timeout_s is None or timeout_s <= 0 else float(timeout_s)

    @staticmethod
    def deadline(job: Job, timeout: float) -> float:
        """The ``time.monotonic()`` at which a submitted *job* times out."""
        started = job.submitted_at if job.submitted_at is not None else time.monotonic()
        return started + timeout

    def settle(self, job: Job) -> Any:
        """The outcome of a *job* that is done (finished or cancelled); a finished one
        clears the timeout count. Any thread (the main thread, right after the body)."""
        if job.state == Job.FINISHED:
            with self._state_lock:
                self._consecutive_timeouts = 0
        return job.outcome()

    def expire(self, job: Job, timeout: float) -> Any:
        """*job*'s time ran out: abandon it and raise ``MainThreadTimeout`` (or return its
        outcome if it was done in the meantime). Any thread; never waits."""
        never_runs = job.abandon()
        if job.state in (Job.FINISHED, Job.CANCELLED):  # both set result/exc before the state
            # Finished, or cancelled by ``tool.cancel``, in the instant between the wait
            # and the abandon: report its own outcome, not a timeout.
            return self.settle(job)
        with self._state_lock:
            self._consecutive_timeouts += 1
            count = self._consecutive_timeouts
            if count >= BUSY_AFTER_TIMEOUTS:
                self._ensure_probe_locked()
        detail = (
            "it was abandoned and will not run"
            if never_runs
            else "it started and may still finish in the background; its result is dropped"
        )
        raise MainThreadTimeout(
            f"{job.label}: Houdini's main thread did not finish the call within {timeout:g} s ({detail})."
        )
