"""Import the heavy libraries ahead of the first job that needs them.

The first ``import timm`` pulls in torchvision, torch._dynamo and sympy: about a second of
module execution. Done lazily inside the first training, LR-finder or network-filter job, it
starves the UI thread for 100–180 ms at the very moment the user is watching a run start. The
app runs this job once, shortly after its window has appeared.
"""

from __future__ import annotations

import importlib
import time

from engine.jobs import check

MODULES = ("timm", "torchvision.models")


def warm_up_job(stop=None):
    """Job: import each of ``MODULES``; yields {'module', 'seconds'} per import, returns the total seconds."""
    t0 = time.perf_counter()
    for name in MODULES:
        check(stop)
        t = time.perf_counter()
        importlib.import_module(name)
        yield {"module": name, "seconds": time.perf_counter() - t}
    return time.perf_counter() - t0
