"""engine.warmup: torch's native libraries load before the import (with the GIL released), and torch works."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

PRELOAD_THEN_IMPORT = """
import sys
from engine.warmup import preload_torch_libraries
n = preload_torch_libraries()
maps = open("/proc/self/maps").read()
assert "torch" not in sys.modules, "preloading must not import torch"
assert "libtorch_cpu.so" in maps, "libtorch_cpu.so is not loaded"
import torch
assert float(torch.ones(3).sum()) == 3.0
assert preload_torch_libraries() == 0  # torch is imported: nothing left to do
print(n)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the preload uses Linux's dlopen")
def test_torch_libraries_load_before_the_import_and_torch_still_works():
    proc = subprocess.run(
        [sys.executable, "-c", PRELOAD_THEN_IMPORT], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.split()[-1]) >= 3  # libc10, libtorch_cpu, libtorch (and the CUDA ones when built)


def test_warm_up_hides_what_it_imported_from_the_garbage_collector():
    """Full collections walked ~450,000 import-time objects, holding the GIL 0.1–0.5 s: they are frozen."""
    import gc

    from engine.jobs import run_to_end
    from engine.warmup import warm_up_job

    gc.unfreeze()
    enabled = gc.isenabled()
    try:
        run_to_end(warm_up_job())
        assert gc.get_freeze_count() > 10_000 and gc.isenabled() == enabled
    finally:
        gc.unfreeze()
