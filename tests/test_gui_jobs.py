"""gui.jobs.JobSlot: one slot per kind of work; a superseded job's late signals are dropped."""

from gui.jobs import JobSlot
from tests.conftest import wait_until_stopped


def counting(n=3, stop=None):
    for i in range(n):
        yield {"i": i}
    return n


def test_a_superseded_job_is_cancelled_and_its_late_signals_are_dropped(qtbot):
    slot = JobSlot("batch")
    seen = {"old": [], "new": []}
    running = []
    slot.runningChanged.connect(running.append)
    old = slot.start(
        wait_until_stopped,
        owner="first",
        on_progress=lambda r: seen["old"].append("progress"),
        on_cancelled=lambda: seen["old"].append("cancelled"),
        on_ended=lambda k: seen["old"].append(k),
    )
    qtbot.waitUntil(lambda: "progress" in seen["old"], timeout=5000)
    new = slot.start(
        counting,
        owner="second",
        on_progress=lambda r: seen["new"].append(r["i"]),
        on_finished=lambda v: seen["new"].append(("done", v)),
        on_ended=lambda k: seen["new"].append(k),
    )
    assert old.job.stop.is_set() and slot.owner == "second" and slot.is_current(new) and not slot.is_current(old)
    qtbot.waitUntil(lambda: "done" in seen["new"], timeout=5000)
    assert old.wait(5)
    qtbot.wait(50)  # let the old job's queued end arrive after the new one's
    # the old job's queued end reached the slot after it was superseded: none of its callbacks ran then,
    # and it did not clear the new job (the Batch-predict race)
    assert seen["old"] and set(seen["old"]) == {"progress"}
    assert seen["new"] == [0, 1, 2, ("done", 3), "done"]
    assert running == [True, False]  # one busy period: superseding does not flicker it
    assert not slot.running and slot.job is None


def test_running_is_true_until_the_end_is_handled_and_shutdown_waits_for_every_job(qtbot):
    slot = JobSlot("learner")
    states = []
    job = slot.start(wait_until_stopped, owner="Train", on_ended=lambda k: states.append((k, slot.running)))
    assert slot.running and slot.owner == "Train"
    slot.shutdown(5)
    assert not job.job.running
    qtbot.waitUntil(lambda: bool(states), timeout=5000)
    assert states == [("cancelled", False)]


def test_a_new_job_started_from_the_end_callback_keeps_the_slot_busy(qtbot):
    slot = JobSlot("chain")
    running, order = [], []
    slot.runningChanged.connect(running.append)

    def then_second(_kind):
        order.append("first ended")
        slot.start(counting, 1, on_ended=lambda k: order.append("second ended"))

    slot.start(counting, 1, on_ended=then_second)
    qtbot.waitUntil(lambda: "second ended" in order, timeout=5000)
    assert order == ["first ended", "second ended"]
    assert running == [True, False]


def test_a_job_waits_while_the_window_is_behind_and_goes_on_once_it_catches_up(qtbot, monkeypatch):
    """Back-pressure: records made while the GUI thread is busy pile up at most MAX_RECORDS_AHEAD deep."""
    import time

    import gui.jobs as jobs

    monkeypatch.setattr(jobs, "MAX_WAIT_S", 10.0)
    made = []

    def records(stop=None):
        for i in range(10):
            made.append(i)
            yield {"i": i}

    got = []
    slot = JobSlot("busy window")
    slot.start(records, on_progress=lambda r: got.append(r["i"]))
    time.sleep(0.4)  # the GUI thread is "painting": no events are handled
    assert len(made) == jobs.MAX_RECORDS_AHEAD + 1  # the job waited instead of racing ahead
    qtbot.waitUntil(lambda: len(got) == 10, timeout=5000)
    assert got == list(range(10))


def test_job_threads_run_at_a_lower_priority_than_the_window():
    import os
    import threading

    from engine.jobs import Job

    seen = {}

    def nice_of_my_thread(stop=None):
        seen["job"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return None
        yield

    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    job = Job(nice_of_my_thread)
    job.niceness = 5
    job.start()
    assert job.wait(5)
    assert seen["job"] == min(19, main_before + 5)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before  # the window's is unchanged
