"""engine.jobs: results, progress, cancel with cleanup, errors as data; gui.jobs delivers on the GUI thread."""

import threading
import time

from engine.jobs import CANCELLED, DONE, ERROR, PROGRESS, Job, check, describe_error, live_jobs, run_to_end


def counter(n, stop=None, cleanup=None, fail_at=None, delay=0.0):
    try:
        for i in range(n):
            check(stop)
            if i == fail_at:
                raise ValueError(f"bad item {i}")
            time.sleep(delay)
            yield {"i": i}
        return n * 10
    finally:
        if cleanup is not None:
            cleanup.append(threading.current_thread().name)


def collect(job):
    events = []
    done = threading.Event()

    def cb(ev):
        events.append((ev.kind, ev.data))
        if ev.kind != PROGRESS:
            done.set()

    job.start(cb)
    assert done.wait(10)
    job.wait(5)
    return events


def test_job_delivers_progress_then_result():
    events = collect(Job(counter, 3))
    assert events == [(PROGRESS, {"i": 0}), (PROGRESS, {"i": 1}), (PROGRESS, {"i": 2}), (DONE, 30)]


def test_cancel_stops_and_runs_finally_on_the_worker_thread():
    cleanup = []
    job = Job(counter, 10_000, cleanup=cleanup, delay=0.005, name="slow")
    seen = []
    job.start(lambda ev: seen.append(ev.kind))
    time.sleep(0.05)
    job.cancel()
    assert job.wait(5)
    assert job.state == CANCELLED and seen[-1] == CANCELLED
    assert seen.count(PROGRESS) < 10_000
    assert cleanup == ["fovea-slow"]
    assert job not in live_jobs()


def test_errors_arrive_as_data():
    cleanup = []
    events = collect(Job(counter, 5, cleanup=cleanup, fail_at=2))
    assert events[-1] == (ERROR, "bad item 2")
    assert cleanup, "finally must run on error"


def test_run_to_end_and_describe_error():
    seen = []
    assert run_to_end(counter(4), seen.append) == 40 and len(seen) == 4
    assert "smaller batch" in describe_error(RuntimeError("CUDA out of memory. Tried to allocate"))


def test_qtjob_signals_arrive_on_gui_thread(qtbot):
    from PySide6.QtCore import QThread

    from gui.jobs import QtJob

    threads, progress = [], []
    job = QtJob(counter, 3)
    job.progress.connect(lambda r: (progress.append(r["i"]), threads.append(QThread.currentThread())))
    with qtbot.waitSignal(job.finished, timeout=10000) as blocker:
        job.start()
    assert blocker.args == [30]
    qtbot.waitUntil(lambda: len(progress) == 3)
    assert progress == [0, 1, 2]
    assert all(t is QThread.currentThread() for t in threads)


def test_qtjob_failed_and_cancelled(qtbot):
    from gui.jobs import QtJob

    bad = QtJob(counter, 5, fail_at=1)
    with qtbot.waitSignal(bad.failed, timeout=10000) as blocker:
        bad.start()
    assert blocker.args == ["bad item 1"]
    slow = QtJob(counter, 10_000, delay=0.005)
    with qtbot.waitSignal(slow.cancelled, timeout=10000):
        slow.start()
        time.sleep(0.03)
        slow.cancel()
    assert slow.wait(5)


def test_qtjob_is_not_running_once_its_end_is_handled_even_if_the_thread_lingers(qtbot):
    """A panel re-enables Run from its ``ended`` handler by asking ``running``: that must already be
    False there, though the worker thread may not have exited yet (this was a 1-in-12 flake)."""
    import engine.jobs as jobs_module
    from gui.jobs import QtJob

    gate = threading.Event()

    def gated(stop=None):
        yield {"i": 0}
        gate.wait(10)
        return 1

    job = QtJob(gated)
    seen = []
    job.ended.connect(lambda kind: seen.append((kind, job.running, job.job.running)))
    assert not job.running
    job.start()
    assert job.running
    with jobs_module._live_lock:  # the worker thread cannot exit before this is released
        gate.set()
        qtbot.waitUntil(lambda: bool(seen), timeout=10000)
    assert seen == [("done", False, True)]  # the thread was still alive, the job already ended
    assert job.wait(5)


def test_warm_up_imports_the_heavy_libraries_on_a_job_thread():
    import sys

    from engine.warmup import MODULES, warm_up_job

    records = []
    total = run_to_end(warm_up_job(), records.append)
    assert [r["module"] for r in records] == list(MODULES)
    assert all(m in sys.modules for m in MODULES) and total >= 0


def test_main_window_warm_up_job_ends_and_is_started_once(qtbot, settings):
    from gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    job = win.warm_up()
    assert win.warm_up() is job
    qtbot.waitUntil(lambda: not job.running, timeout=60_000)
    win.shutdown()


def test_jobslot_drop_forgets_the_current_job_and_its_late_signals(qtbot):
    from gui.jobs import JobSlot

    slot = JobSlot("test")
    seen = []
    emitted = threading.Event()

    def rows(stop=None):
        yield {"row": 1}
        emitted.set()
        while not stop.wait(0.01):
            pass
        check(stop)

    with qtbot.waitSignal(slot.runningChanged):
        slot.start(rows, on_progress=seen.append, on_ended=lambda kind: seen.append(kind))
    assert emitted.wait(10)  # its row is queued, not yet delivered
    job = slot.job
    with qtbot.waitSignal(slot.runningChanged) as changed:
        slot.drop()
    assert changed.args == [False] and not slot.running and slot.job is None
    assert job.wait(10)
    qtbot.wait(50)  # deliver what it queued: its row and its end
    assert seen == []
