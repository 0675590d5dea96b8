"""Import the heavy libraries ahead of the first job that needs them.

The window starts without torch (importing it took 1.2–1.5 s, most of the start-up time). Then the
first ``import timm`` pulls in torchvision, torch._dynamo and sympy: about another second. Done lazily
inside the first training, LR-finder, classify or network-filter job, that starves the UI thread at
the very moment the user is watching a run start. The app runs this job once, shortly after its
window has appeared; the engine modules that use torch come last, so the panels' imports inside
their functions find everything loaded.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path

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
# torch's native libraries in load order (dependencies first); the CUDA ones are absent from CPU builds.
TORCH_LIBRARIES = ("libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so")


def preload_torch_libraries() -> int:
    """Load torch's native libraries before ``import torch`` and without holding the GIL.

    Loading them (relocations, thousands of operator registrations) is most of the import, and an
    import holds the GIL from start to end: the window froze for 0.3–1 s even though the import ran
    on another thread. libc's ``dlopen`` called through ctypes releases the GIL; the import then finds
    the libraries loaded. Linux only; anything that does not load is left to the import. Returns how
    many libraries were loaded.
    """
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return 0
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return 0
    try:
        dlopen = ctypes.CDLL(None).dlopen
    except (OSError, AttributeError):
        return 0
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, (ctypes.c_char_p, ctypes.c_int)
    folder = Path(spec.submodule_search_locations[0]) / "lib"
    loaded = 0
    for name in TORCH_LIBRARIES:
        path = folder / name
        if path.exists() and dlopen(os.fsencode(path), os.RTLD_NOW):  # never closed: torch keeps them
            loaded += 1
    return loaded


def warm_up_job(stop=None):
    """Job: import each of ``MODULES``; yields {'module', 'seconds'} per import, returns the total seconds.

    Then the ~450,000 objects the imports made are moved out of the garbage collector's sight
    (``gc.freeze``): they live as long as the process, and a full collection that walks them holds the
    GIL for 0.1–0.5 s, whichever thread triggers it — the window's longest pauses during training and
    the LR finder. The collector is off during the imports for the same reason.
    """
    t0 = time.perf_counter()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for name in MODULES:
            check(stop)
            t = time.perf_counter()
            if name == "torch":
                preload_torch_libraries()
            importlib.import_module(name)
            yield {"module": name, "seconds": time.perf_counter() - t}
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
    return time.perf_counter() - t0
