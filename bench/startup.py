"""Benchmark: from `python main.py` to the first painted window (goal ≤ 1.5 s), and what the time goes to.

    python bench/startup.py [--runs 5] [--xvfb] [--no-peer]

Each run launches main.py in a fresh subprocess (offscreen, or on an Xvfb server with --xvfb) with its
own empty FOVEA_HOME, so it opens the built-in sample as a first launch does. The app's start-up
probe (gui/startup_probe.py, FOVEA_STARTUP_PROBE) writes the wall-clock time of the first paint and
of the open sample; the time is counted from just before the subprocess is started. The process's
CPU time at the first paint is printed too: on a busy machine it says more than the wall clock. The peer, in the
same run: the same launch with torch imported first (what every start paid before torch moved to the
warm-up job). Then one more run under ``python -X importtime`` gives the import breakdown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 1.5
TORCH_FIRST = "import torch, runpy, sys; sys.argv = ['main.py']; runpy.run_path('main.py', run_name='__main__')"


def launch(args: list[str], display: str | None, timeout: float = 120) -> tuple[dict, str]:
    """Start the app once; return the probe's report (times relative to the start) and its stderr."""
    with tempfile.TemporaryDirectory(prefix="fovea-startup-") as home:
        probe = Path(home) / "probe.json"
        env = {
            **os.environ,
            "FOVEA_HOME": home,
            "XDG_CONFIG_HOME": str(Path(home) / "config"),
            "FOVEA_STARTUP_PROBE": str(probe),
        }
        if display:
            env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb")
        else:
            env["QT_QPA_PLATFORM"] = "offscreen"
        cmd = [sys.executable, *args]
        t0 = time.time()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not probe.exists():
            raise RuntimeError(f"main.py failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        report = json.loads(probe.read_text())
    for key in ("shown", "dataset"):
        if report.get(key):
            report[key] -= t0
    return report, proc.stderr


def measure(label: str, args: list[str], runs: int, display: str | None) -> float:
    shown, cpu, opened, heavy = [], [], [], set()
    for _ in range(runs):
        report, _ = launch(args, display)
        shown.append(report["shown"])
        cpu.append(report["shown_cpu"])
        opened.append(report.get("dataset") or float("nan"))
        heavy.update(report.get("shown_modules", []))
    med = statistics.median(shown)
    print(
        f"{label}: window painted after median {med:.2f} s (min {min(shown):.2f}, max {max(shown):.2f}, "
        f"{runs} runs; CPU time by then {statistics.median(cpu):.2f} s); sample open after "
        f"{statistics.median(opened):.2f} s; "
        f"heavy modules loaded at the first paint: {', '.join(sorted(heavy)) or 'none'}"
    )
    return med


def import_breakdown(display: str | None, top: int = 12) -> None:
    """Cumulative import time of each top-level import of main.py (and of the app's own modules)."""
    _, err = launch(["-X", "importtime", "main.py"], display)
    rows = []
    for line in err.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                depth = len(name) - len(name.lstrip()) - 1
                rows.append((depth, name.strip(), int(cumulative) / 1e6))
    total = sum(s for d, _, s in rows if d == 0)
    print(f"imports of one start: {total:.2f} s in all; the largest top-level ones (cumulative):")
    for _, name, s in sorted((r for r in rows if r[0] == 0), key=lambda r: -r[2])[:top]:
        print(f"  {s:6.3f} s  {name}")
    ours = [r for r in rows if r[1].split(".")[0] in ("gui", "engine") and r[1].count(".") <= 1]
    print("the app's own modules (cumulative, including what they import):")
    for _, name, s in sorted(ours, key=lambda r: -r[2])[:top]:
        print(f"  {s:6.3f} s  {name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--xvfb", action="store_true", help="on an Xvfb X server (started once) instead of offscreen")
    ap.add_argument("--no-peer", action="store_true", help="skip the launch with torch imported first")
    a = ap.parse_args()
    server = start_xvfb() if a.xvfb else None
    display = server[1] if server else None
    try:
        base = statistics.median([_seconds([sys.executable, "-c", "pass"]) for _ in range(3)])  # for scale
        where = f"Xvfb {display}" if display else "offscreen"
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {where}; `python -c pass` takes {base:.2f} s")
        launch(["main.py"], display)  # one launch to warm the file cache (first-launch numbers differ)
        med = measure("fovea  python main.py", ["main.py"], a.runs, display)
        print(f"  goal ≤ {GOAL_S} s: {'met' if med <= GOAL_S else 'NOT met'}")
        if not a.no_peer:
            peer = measure("peer   torch imported first", ["-c", TORCH_FIRST], a.runs, display)
            print(f"  torch at start-up would add {peer - med:.2f} s")
        import_breakdown(display)
    finally:
        if server:
            server[0].terminate()
            server[0].wait(10)
    return 0


def start_xvfb() -> tuple[subprocess.Popen, str] | None:
    """An Xvfb server on a free display number, ready to take clients (None when Xvfb is missing)."""
    if not shutil.which("Xvfb"):
        print("Xvfb not found (apt-get install xvfb); measuring offscreen")
        return None
    n = next(i for i in range(99, 200) if not Path(f"/tmp/.X11-unix/X{i}").exists())
    proc = subprocess.Popen(
        ["Xvfb", f":{n}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"], stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 10
    while not Path(f"/tmp/.X11-unix/X{n}").exists() and time.time() < deadline:
        time.sleep(0.05)
    return proc, f":{n}"


def _seconds(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
