"""Import the heavy libraries ahead of the first job that needs them.

The window starts without torch (importing it takes 1–1.5 s, most of the start-up time it used to
have). Then the first ``import timm`` pulls in torchvision, torch._dynamo and sympy: about another
second. Done lazily inside the first training, LR-finder, classify or network-filter job, that
starves the UI thread at the very moment the user is watching a run start. The app runs this job
once, shortly after its window has appeared; the engine modules that use torch come last, so the
panels' imports inside their functions find everything loaded.
"""

from __future__ import annotations

import importlib
import time

from engine.jobs import check

MODULES = (
    "torch",
    "timm",
    "torchvision.models",
    "engine.models",
    "engine.features",
    "engine.training",
    "engine.lr_finder",
    "engine.inference",
)


def warm_up_job(stop=None):
    """Job: import each of ``MODULES``; yields {'module', 'seconds'} per import, returns the total seconds."""
    t0 = time.perf_counter()
    for name in MODULES:
        check(stop)
        t = time.perf_counter()
        importlib.import_module(name)
        yield {"module": name, "seconds": time.perf_counter() - t}
    return time.perf_counter() - t0
