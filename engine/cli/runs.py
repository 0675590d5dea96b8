"""`fovea runs [--json]`, `runs show ID`, `runs export ID -o MODEL [--onnx F]`, `runs delete ID…`,
`runs cap`: the run store (engine.runs) on the command line."""

from __future__ import annotations

import json
import sys

from engine.cli import fail
from engine.run_records import model_label, parse_run_ref, run_summary
from engine.runs import RunStore


def _run_id(text: str) -> int:
    import argparse

    ref = parse_run_ref(text)
    if ref is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not a run id (a number, as `fovea runs` lists)")
    return ref[0]


def register(sub) -> None:
    p = sub.add_parser(
        "runs",
        help="list, show, export or delete the stored training runs",
        description="Every training run (app or command line) is kept with its per-epoch metrics and two "
        "models: the last epoch's and the best epoch's (lowest validation loss).",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--dataset", metavar="DIR", help="only the runs on this dataset folder")
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    show = acts.add_parser("show", help="one run's settings, epochs and models")
    show.add_argument("id", type=_run_id)
    show.add_argument("--json", action="store_true", help="print the run's record as JSON")
    export = acts.add_parser("export", help="write a run's model to a file (and ONNX)")
    export.add_argument("id", type=_run_id)
    export.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (.pth)")
    export.add_argument("--onnx", metavar="FILE", help="also export it as ONNX")
    export.add_argument("--last", action="store_true", help="the last epoch's model (default: the best epoch's)")
    delete = acts.add_parser("delete", help="delete runs with their models")
    delete.add_argument("ids", nargs="+", type=_run_id, metavar="ID")
    cap = acts.add_parser("cap", help="show or set how many runs the store keeps")
    cap.add_argument("--keep", type=int, metavar="N", help="keep the newest N runs of each dataset")
    cap.add_argument("--max-gb", type=float, metavar="GB", help="keep at most this many gigabytes of runs")
    cap.add_argument("--no-limit", action="store_true", help="no cap: keep every run")
    p.set_defaults(run=run)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def _pct(v) -> str:
    return f"{v:.2%}" if isinstance(v, (int, float)) else "—"


def _warn_problems(store: RunStore) -> None:
    for line in store.problems:
        print(f"fovea: warning: {line} (skipped)", file=sys.stderr)


def list_runs(store: RunStore, args) -> int:
    runs = store.list_runs(args.dataset)
    rows = [{**run_summary(r), "bytes": store.disk_usage(r["id"])} for r in runs]
    _warn_problems(store)
    if args.json:
        out = {"store": str(store.root), "bytes": store.disk_usage(), "runs": rows, "problems": store.problems}
        print(json.dumps(out, indent=1))
        return 0
    if not rows:
        print(f"no runs stored in {store.root}")
        return 0
    print(f"{'id':>4}  {'state':<11} {'dataset':<18} {'arch':<18} {'epochs':>6}  {'best acc':>8} (epoch)  size")
    for r in rows:
        best = f"{_pct(r['best_accuracy']):>8} ({r['best_epoch'] or '—'})"
        print(
            f"{r['id']:>4}  {r['state']:<11} {r['dataset'][:18]:<18} {r['arch'][:18]:<18} {r['epochs']:>6}  "
            f"{best:<16} {_size(r['bytes'])}"
        )
    print(f"{len(rows)} run(s), {_size(store.disk_usage())} in {store.root}; {store.cap().describe()}")
    return 0


def show(store: RunStore, args) -> int:
    rec = store.get(args.id)
    if args.json:
        print(json.dumps({**rec, "bytes": store.disk_usage(args.id)}, indent=1))
        return 0
    s = run_summary(rec)
    print(f"run {rec['id']}: {s['state']}{' — ' + s['message'] if s['message'] else ''}")
    print(f"dataset   {rec['dataset'].get('path')} (fingerprint {rec['dataset'].get('fingerprint', '—')})")
    print(f"classes   {', '.join(rec['classes'])}")
    print(f"started   {rec.get('created', '')}  on {rec.get('device') or '—'}")
    if rec.get("parent"):
        print(f"continued {model_label(rec['parent'])}")
    for i, c in enumerate(rec["configs"]):
        keys = ("arch", "size", "bs", "lr", "epochs", "cycles", "schedule", "precompute", "aug", "unfreeze", "lr_mult")
        print(f"stage {i + 1}   " + "  ".join(f"{k}={c.get(k)}" for k in keys if c.get(k) is not None))
    print(f"{'epoch':>5}  {'train loss':>10}  {'valid loss':>10}  {'accuracy':>8}")
    for e in rec["epochs"]:
        print(f"{e['epoch']:>5}  {e['train_loss']:>10.4f}  {e['valid_loss']:>10.4f}  {_pct(e['accuracy']):>8}")
    for which in ("best", "last"):
        entry = rec.get(which)
        if entry:
            print(f"{which:<5} model: epoch {entry['epoch']}, accuracy {_pct(entry['accuracy'])} ({entry['file']})")
    print(f"disk      {_size(store.disk_usage(args.id))}")
    return 0


def export(store: RunStore, args) -> int:
    import os

    from engine.models import export_onnx, save_model

    for flag, out in (("-o", args.output), ("--onnx", args.onnx)):
        if out and os.path.isdir(out):
            return fail(f"{flag} {out} is a folder: give a file name")
    model = store.load_model(args.id, "last" if args.last else "best")
    path = save_model(model, args.output)
    onnx = export_onnx(model, args.onnx) if args.onnx else None
    print(f"{model_label(model.meta.run)} → {path}" + (f" and {onnx}" if onnx else ""))
    return 0


def delete(store: RunStore, args) -> int:
    freed = 0
    for run_id in args.ids:
        freed += store.delete(run_id)
        print(f"deleted run {run_id}")
    print(f"freed {_size(freed)}")
    return 0


def cap(store: RunStore, args) -> int:
    if args.no_limit or args.keep is not None or args.max_gb is not None:
        if args.no_limit and (args.keep is not None or args.max_gb is not None):
            return fail("give --no-limit alone, or --keep and/or --max-gb")
        max_bytes = int(args.max_gb * 1e9) if args.max_gb is not None else None
        store.set_cap(args.keep, max_bytes)
        deleted = store.enforce_cap()
        if deleted:
            print(f"deleted run(s) {', '.join(map(str, deleted))}")
    print(f"the run store {store.cap().describe()}; it uses {_size(store.disk_usage())}")
    return 0


def run(args) -> int:
    store = RunStore()
    action = {"show": show, "export": export, "delete": delete, "cap": cap}.get(args.action, list_runs)
    try:
        return action(store, args)
    except ValueError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{exc.filename or store.root}: {exc.strerror or exc}")
