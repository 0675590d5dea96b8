"""Training in several processes (data-parallel, engine.distributed) from the window: a job that runs
``engine.cli.launch.train_command`` and turns its JSON lines into the records the tab's charts draw.

No Qt here: the job runs on an engine job thread (gui.jobs) like the in-window fit.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Generator

from engine.jobs import Cancelled

POLL_SECONDS = 0.2


def _pump(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def launched_fit(command: list[str], stop: threading.Event | None = None) -> Generator[dict, None, dict]:
    """Job: run ``command`` (rank 0 prints an object per epoch, then the final one); yields
    {"type": "run"} once the run id is known and {"type": "epoch", …} per epoch; returns the final
    object. Cancel stops the processes (torchrun passes the signal on); a failure raises with the last
    line the processes printed."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    errors: list[str] = []
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True).start()
    final, run = None, None
    try:
        while True:
            if stop is not None and stop.is_set():
                raise Cancelled()
            try:
                line = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if line is None:
                break
            rec = _parse(line)
            if rec is None:
                continue
            if rec.get("run") != run:
                run = rec.get("run")
                yield {"type": "run", "run": run, "error": rec.get("store_error", "")}
            if "train_loss" in rec:
                yield {"type": "epoch", **rec}
            else:
                final = rec
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    if code != 0 or final is None:
        last = next((e.strip() for e in reversed(errors) if e.strip()), f"exit status {code}")
        raise RuntimeError(f"the training processes failed: {last}")
    return final


def _parse(line: str) -> dict | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None
