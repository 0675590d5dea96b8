"""Start-up: `python main.py` shows its window, and opens the first dataset, without importing torch
(importing it took 1.2–1.5 s of the 2.5 s before the window appeared). torch comes later, on the
warm-up job's thread (engine.warmup)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("torch", "torchvision", "timm")


def import_chain(importtime: str, module: str) -> str:
    """From ``python -X importtime`` output: which imports led to the first import of ``module``,
    outermost first ("gui.main_window > gui.classify > … > torch"), or "" if it was not imported."""
    lines = []
    for line in importtime.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.split("|")[2][1:]
            lines.append((len(name) - len(name.lstrip()), name.strip()))
    for i, (depth, name) in enumerate(lines):
        if name == module:
            chain = [name]
            for d, parent in lines[i + 1 :]:  # a module is listed after everything it imported
                if d < depth:
                    chain.append(parent)
                    depth = d
            return " > ".join(reversed(chain))
    return ""


@pytest.fixture(scope="module")
def startup(tmp_path_factory):
    """Run the app as a user does, offscreen, until its window was painted and the sample was open."""
    home = tmp_path_factory.mktemp("startup")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "FOVEA_HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "FOVEA_STARTUP_PROBE": str(home / "probe.json"),
    }
    cmd = [sys.executable, "-X", "importtime", str(ROOT / "main.py")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((home / "probe.json").read_text())
    assert report.get("shown") and report.get("dataset"), report  # the window appeared and opened the sample
    return report, proc.stderr


def test_the_window_shows_without_importing_torch(startup):
    report, importtime = startup
    chains = {m: import_chain(importtime, m) for m in report["shown_modules"]}
    assert report["shown_modules"] == [], f"imported before the window was shown: {chains}"


def test_opening_the_first_dataset_does_not_import_torch(startup):
    report, importtime = startup
    chains = {m: import_chain(importtime, m) for m in report["dataset_modules"]}
    assert report["dataset_modules"] == [], f"imported by the time the first dataset was open: {chains}"


def test_import_chain_names_who_imported_a_module():
    out = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:        10 |         10 |       torch._C",
            "import time:       100 |        110 |     torch",
            "import time:        20 |        130 |   engine.inference",
            "import time:         5 |          5 |   numpy",
            "import time:        30 |        165 | gui.classify",
        ]
    )
    assert import_chain(out, "torch") == "gui.classify > engine.inference > torch"
    assert import_chain(out, "timm") == ""


PYQTGRAPH_WITHOUT_CUDA = """
import importlib.util, sys
from gui.app import import_pyqtgraph
pg = import_pyqtgraph()
assert pg.PlotWidget is not None
assert "cuda.bindings.runtime" not in sys.modules, "pyqtgraph loaded the CUDA runtime bindings"
if importlib.util.find_spec("cuda") is not None:  # installed with torch's CUDA wheels
    import cuda.bindings.runtime  # still importable for torch afterwards
print("ok")
"""


def test_pyqtgraph_is_imported_without_the_cuda_bindings_which_stay_importable():
    proc = subprocess.run(
        [sys.executable, "-c", PYQTGRAPH_WITHOUT_CUDA],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["scan", "resources/sample"], ["runs"]])
def test_commands_that_train_nothing_do_not_import_torch(argv, tmp_path):
    """Parsing every subcommand's options, scanning a folder and listing runs stay torch-free (the
    4 s of `import torch` is paid by the commands that run a network)."""
    env = {**os.environ, "FOVEA_HOME": str(tmp_path)}
    cmd = [sys.executable, "-X", "importtime", str(ROOT / "main.py"), *argv]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
    for module in HEAVY:
        assert import_chain(proc.stderr, module) == "", import_chain(proc.stderr, module)
