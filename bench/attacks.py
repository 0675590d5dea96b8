"""Run the whole attack set of issue 16 and print, per attack, whether it held.

    python bench/attacks.py            # every attack
    python bench/attacks.py -k fifo    # the attacks whose test name matches (pytest's -k)

The attacks are the ``test_attack_*`` tests in ``tests/test_attacks_*.py`` (each docstring's first
line says what the attack does); this runs them with pytest and prints one line per attack:
"held" (Fovea resisted it) or "FAILED". Exit status 0 when every attack held.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class _Collector:
    """A pytest plugin that keeps each attack's outcome and description."""

    def __init__(self):
        self.doc: dict[str, str] = {}
        self.outcome: dict[str, str] = {}
        self.seconds: dict[str, float] = {}

    def pytest_collection_modifyitems(self, config, items):
        attacks = [i for i in items if i.name.startswith("test_attack_")]
        if len(attacks) < len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in attacks])
            items[:] = attacks
        for item in items:
            doc = (getattr(item.function, "__doc__", None) or item.name).strip().splitlines()[0]
            param = f" [{item.callspec.id}]" if hasattr(item, "callspec") else ""
            self.doc[item.nodeid] = doc + param

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            if self.outcome.get(report.nodeid) in ("failed", "error"):
                return
            bad = report.outcome == "failed"
            self.outcome[report.nodeid] = ("failed" if report.when == "call" else "error") if bad else report.outcome
            self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration


def main(argv: list[str] | None = None) -> int:
    import pytest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only the attacks whose test name matches (pytest -k)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    files = sorted(str(p) for p in (ROOT / "tests").glob("test_attacks_*.py"))
    collector = _Collector()
    pytest_args = ["-q", "-p", "no:cacheprovider", "--no-header", "-o", "console_output_style=classic", *files]
    t0 = time.perf_counter()
    pytest.main([*pytest_args, *(["-k", args.k] if args.k else []), "--tb=line"], plugins=[collector])
    print()
    held = 0
    for nodeid, doc in collector.doc.items():
        outcome = collector.outcome.get(nodeid)
        if outcome is None:
            continue
        ok = outcome == "passed"
        held += ok
        status = "held  " if ok else ("FAILED" if outcome != "skipped" else "skip  ")
        print(f"{status}  {collector.seconds.get(nodeid, 0):5.1f} s  {doc}")
    ran = sum(1 for n in collector.doc if n in collector.outcome)
    print(f"\n{held} of {ran} attacks held ({time.perf_counter() - t0:.0f} s)")
    return 0 if held == ran else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
