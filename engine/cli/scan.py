"""`fovea scan DATASET [--json]`: list, verify every image in parallel, report problems."""

from __future__ import annotations

import json
import sys

from engine.cli import fail
from engine.data import DatasetError, scan_dataset, verify_dataset
from engine.jobs import run_to_end


def register(sub) -> None:
    p = sub.add_parser("scan", help="list and verify a dataset folder, print every problem")
    p.add_argument("dataset")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-verify", action="store_true", help="list only; do not decode images")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        ds = scan_dataset(args.dataset)
    except DatasetError as exc:
        return fail(str(exc))
    bad = []
    if not args.no_verify:

        def progress(rec):
            if not args.json and sys.stderr.isatty():
                print(f"\rverifying {rec['done']}/{rec['total']}", end="", file=sys.stderr)

        bad = run_to_end(verify_dataset(ds), progress)
        if not args.json and sys.stderr.isatty():
            print(file=sys.stderr)
    problems = ds.problems + bad
    if args.json:
        print(
            json.dumps(
                {
                    "root": str(ds.root),
                    "classes": ds.classes,
                    "counts": ds.counts(),
                    "train": len(ds.train),
                    "valid": len(ds.valid),
                    "test": len(ds.test),
                    "valid_is_auto": ds.valid_is_auto,
                    "problems": [{"path": p.path, "reason": p.reason, "split": p.split} for p in problems],
                },
                indent=1,
            )
        )
        return 0
    print(f"{ds.root}")
    print(
        f"  {len(ds.classes)} classes, {len(ds.train)} train, {len(ds.valid)} valid"
        f"{' (automatic 20 % split of train/)' if ds.valid_is_auto else ''}, {len(ds.test)} test"
    )
    width = max(len(c) for c in ds.classes)
    for c, n in ds.counts().items():
        print(f"  {c:<{width}}  train {n['train']:>6}  valid {n['valid']:>6}")
    print(f"{len(problems)} problem(s)" + (":" if problems else ""))
    for p in problems:
        print(f"  {p.path}: {p.reason}")
    return 0
