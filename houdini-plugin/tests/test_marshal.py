"""Main-thread marshal (design §2 lessons 2, 4, 6)."""

from __future__ import annotations

import threading
import time

import pytest

import hou
from synapse_houdini import marshal as m
from synapse_houdini.errors import MainThreadBusy, MainThreadTimeout, ModalDialogSuppressed, ToolCancelled
from waiting import wait_until


@pytest.fixture
def mar(main_loop):
    return m.Marshal(is_main_thread=main_loop.is_main_thread)


def test_body_runs_on_the_fake_main_thread(mar, main_loop):
    seen = mar.run(threading.get_ident, 5)
    assert seen == main_loop.ident != threading.get_ident()


def test_uses_execute_deferred_not_execute_in_main_thread_with_result(main_loop):
    import hdefereval

    mar = m.Marshal(is_main_thread=main_loop.is_main_thread)
    assert mar._defer is hdefereval.executeDeferred
    assert mar.run(lambda: "ok", 5) == "ok"


def test_inline_when_already_on_main_thread(mar, main_loop):
    def outer():
        # A nested marshal call on the main thread must run inline, not queue and wait.
        return mar.run(threading.get_ident, 0.5)

    assert main_loop.run_sync(outer) == main_loop.ident


def test_exception_propagates(mar):
    with pytest.raises(ZeroDivisionError):
        mar.run(lambda: 1 / 0, 5)


def test_blocked_main_thread_times_out_and_job_never_runs_late(mar, main_loop):
    ran = threading.Event()
    with main_loop.blocked():
        t0 = time.monotonic()
        with pytest.raises(MainThreadTimeout, match="abandoned"):
            mar.run(ran.set, 0.3)
        elapsed = time.monotonic() - t0
        assert elapsed < 0.3 + 1.0
    # After the block is released the queue drains; the abandoned job must not run.
    main_loop.run_sync(lambda: None)
    assert not ran.is_set()


def test_busy_after_two_timeouts_then_recovers_after_probe(mar, main_loop):
    with main_loop.blocked():
        for _ in range(2):
            with pytest.raises(MainThreadTimeout):
                mar.run(lambda: None, 0.1)
        assert mar.busy
        t0 = time.monotonic()
        with pytest.raises(MainThreadBusy):
            mar.run(lambda: None, 5)
        assert time.monotonic() - t0 < 0.1  # fail fast
        with pytest.raises(MainThreadBusy):
            mar.run(lambda: None, 5)
    # Released: the probe runs on the main thread and clears the busy state.
    main_loop.run_sync(lambda: None)
    deadline = time.monotonic() + 2
    while mar.busy and time.monotonic() < deadline:
        main_loop.run_sync(lambda: None)
    assert not mar.busy
    assert mar.run(lambda: "back", 5) == "back"


def test_success_resets_the_timeout_count(mar, main_loop):
    with main_loop.blocked():
        with pytest.raises(MainThreadTimeout):
            mar.run(lambda: None, 0.1)
    assert mar.consecutive_timeouts == 1
    assert mar.run(lambda: 1, 5) == 1
    assert mar.consecutive_timeouts == 0


def test_started_job_that_overruns_reports_timeout(mar, main_loop):
    release = threading.Event()
    with pytest.raises(MainThreadTimeout, match="started"):
        mar.run(lambda: release.wait(5), 0.2)
    release.set()
    main_loop.run_sync(lambda: None)


def test_cancel_before_start_drops_the_job(mar, main_loop):
    ran = threading.Event()
    job = m.Job(ran.set, "t")
    with main_loop.blocked():
        result = {}

        def runner():
            try:
                mar.run_job(job, 5)
            except BaseException as exc:  # noqa: BLE001
                result["exc"] = exc

        t = threading.Thread(target=runner)
        t.start()
        assert wait_until(lambda: main_loop.pending() == 1, 5)  # queued behind the block
        assert job.cancel()
        t.join(2)
        assert not t.is_alive()
        assert isinstance(result["exc"], ToolCancelled)
    main_loop.run_sync(lambda: None)
    assert not ran.is_set()


def test_modal_dialogs_suppressed_only_during_the_body(mar, main_loop):
    originals = {name: getattr(hou.ui, name) for name in m.MODAL_UI_METHODS}
    seen = {}

    def body():
        for name in m.MODAL_UI_METHODS:
            with pytest.raises(ModalDialogSuppressed):
                getattr(hou.ui, name)("x", "y")
            seen[name] = True
        return "done"

    assert mar.run(body, 5) == "done"
    assert set(seen) == set(m.MODAL_UI_METHODS)
    assert hou.ui.calls == []
    # Restored: the artist's own dialogs work again.
    for name in m.MODAL_UI_METHODS:
        assert getattr(hou.ui, name) == originals[name]
    hou.ui.displayMessage("hello")
    assert hou.ui.calls == ["displayMessage"]


def test_modal_dialogs_restored_after_exception(mar):
    original = hou.ui.displayMessage

    def body():
        raise ValueError("boom")

    with pytest.raises(ValueError):
        mar.run(body, 5)
    assert hou.ui.displayMessage == original


def test_dialogs_not_patched_while_waiting_in_queue(mar, main_loop):
    """Suppression wraps the body on the main thread, not the queue wait."""
    original = hou.ui.displayMessage
    box = {}

    def caller():
        try:
            box["result"] = mar.run(lambda: None, 5)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            box["exc"] = exc

    with main_loop.blocked():
        t = threading.Thread(target=caller)
        t.start()
        assert wait_until(lambda: main_loop.pending() == 1, 5)  # the job waits in the queue
        assert hou.ui.displayMessage == original  # artist's dialogs still work meanwhile
    t.join(5)
    assert not t.is_alive()
    assert box == {"result": None}
    assert hou.ui.displayMessage == original


def test_headless_runs_directly_without_queue():
    mar = m.Marshal(headless=True)
    assert mar.run(threading.get_ident, 1) == threading.get_ident()


def test_headless_nested_run_does_not_deadlock():
    mar = m.Marshal(headless=True)
    box = {}
    # A tool body that itself calls marshal.run (a helper shared with scripts).
    t = threading.Thread(target=lambda: box.setdefault("r", mar.run(lambda: mar.run(lambda: "inner", 1), 1)))
    t.start()
    t.join(5)
    assert not t.is_alive(), "nested marshal.run deadlocked on the headless lock"
    assert box == {"r": "inner"}


def test_cancel_landing_as_the_wait_expires_reports_cancelled_not_timeout(mar, main_loop):
    job = m.Job(lambda: "never", "t")

    class CancelAtExpiry(threading.Event):
        def wait(self, timeout=None):
            job.cancel()  # tool.cancel arrives between the wait expiring and abandon()
            return False

    job.done = CancelAtExpiry()
    with main_loop.blocked():
        with pytest.raises(ToolCancelled):
            mar.run_job(job, 0.1)
    assert mar.consecutive_timeouts == 0
    assert not mar.busy


def test_submit_never_waits_and_the_timeout_counts_from_the_submit(mar, main_loop):
    ran = threading.Event()
    job = m.Job(ran.set, label="queued")
    with main_loop.blocked():
        t0 = time.monotonic()
        assert mar.submit(job) is True  # queued at once although the main thread is busy
        assert time.monotonic() - t0 < 0.2
        job.submitted_at -= 0.3  # as if the caller came 0.3 s late to wait: that counts
        t1 = time.monotonic()
        with pytest.raises(MainThreadTimeout, match="abandoned"):
            mar.wait_job(job, 0.4)
        assert time.monotonic() - t1 < 0.35
    main_loop.run_sync(lambda: None)
    assert not ran.is_set()


def test_submit_on_the_main_thread_runs_the_job_in_wait_job(mar, main_loop):
    job = m.Job(threading.get_ident, label="inline")

    def on_main():
        return mar.wait_job(job, 1, mar.submit(job))

    assert main_loop.run_sync(on_main) == main_loop.ident


def test_raisers_are_made_once_and_swapped_in(mar, main_loop):
    seen = {}

    def body():
        seen["first"] = hou.ui.displayMessage
        return None

    mar.run(body, 5)
    mar.run(lambda: seen.setdefault("second", hou.ui.displayMessage), 5)
    assert seen["first"] is seen["second"] is m._RAISERS["displayMessage"]
    assert hou.ui.displayMessage is not m._RAISERS["displayMessage"]
