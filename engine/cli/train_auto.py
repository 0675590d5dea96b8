"""`fovea train DATASET` with no recipe flags: the Auto recipe (engine.recipes.auto_job).

The model Auto keeps is recorded in the run store as one run (its checkpoint, the stages in the
message) and written to ``-o`` when given."""

from __future__ import annotations

import json
import sys
import threading
import time

from engine.cli import fail
from engine.cli.train_output import collect_problems, final_record, report
from engine.jobs import Cancelled, describe_error, run_to_end
from engine.models import WeightsUnavailable, device_name, export_onnx
from engine.presets import DEFAULT_BUDGET_S
from engine.recipes import auto_job, record_auto
from engine.runs import RunStore
from engine.training import Learner


def _printer(args):
    interactive = not args.json and sys.stderr.isatty()

    def progress(rec):
        kind = rec.get("type")
        if kind == "stage":
            if args.json:
                print(json.dumps(rec), flush=True)
            else:
                print(f"{rec['name']}: {rec['why']}", flush=True)
        elif kind == "epoch" and args.json:
            print(json.dumps({k: rec[k] for k in ("epoch", "train_loss", "valid_loss", "accuracy", "seconds")}))
        elif kind == "epoch":
            print(
                f"  epoch {rec['epoch']:>3}  train loss {rec['train_loss']:.4f}  valid loss {rec['valid_loss']:.4f}  "
                f"accuracy {rec['accuracy']:.2%}  ({rec['seconds']:.1f} s)",
                flush=True,
            )
        elif interactive and kind == "precompute":
            print(f"\rprecomputing {rec['split']} activations {rec['done']}/{rec['total']}", end="", file=sys.stderr)
        elif interactive and kind == "lr_find":
            print(f"\rLR test {rec['iteration'] + 1}/{rec['total']}   ", end="", file=sys.stderr)

    return progress


def run_auto(args, config, ds) -> int:
    budget = DEFAULT_BUDGET_S if args.budget is None else args.budget
    if not 0 < budget < 7 * 24 * 3600:
        return fail(f"--budget must be a number of seconds above 0 (got {budget:g})")
    stop = threading.Event()
    if not args.json:
        print(f"{ds.root}: {len(ds.classes)} classes, {len(ds.train)} train, {len(ds.valid)} valid")
        print(
            f"Auto, up to {budget:g} s: {config.arch} at {config.size} px on {device_name(Learner(ds, config).device)}"
        )
    skipped: set = set()
    cache_problems: list[str] = []
    try:
        t0 = time.perf_counter()
        result = run_to_end(auto_job(ds, budget, stop, base=config), _printer(args))
        learner = result["learner"]
        collect_problems(learner, skipped, cache_problems)
        run_id, store_error = record_auto(RunStore(), learner, result)
        path = learner.save(args.output) if args.output else None
        onnx_path = export_onnx(learner.model, args.onnx) if args.onnx else None
        total = time.perf_counter() - t0
    except KeyboardInterrupt:
        stop.set()
        return fail("interrupted", 130)
    except Cancelled:
        return fail("cancelled", 130)
    except WeightsUnavailable as exc:
        return fail(str(exc))
    except (ValueError, RuntimeError, OSError) as exc:
        return fail(describe_error(exc).strip().splitlines()[0])
    fields = {"recipe": "auto", "stages": result["stages"], "lr": result["lr"], "depths": result["depths"]}
    fields.update(accuracy=result["accuracy"], valid_loss=result["valid_loss"], tta=False)
    fields["epochs"] = int(learner.metrics.get("epochs", 0))
    problems = (skipped, cache_problems)
    final = final_record(run_id, path, fields, ds, total, problems, onnx_path, store_error)
    report(args, final, skipped, cache_problems, {"run": run_id, "store_error": store_error})
    return 0
