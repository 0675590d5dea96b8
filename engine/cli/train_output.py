"""What `fovea train` prints: epochs as text or JSON lines, store warnings, skipped files, the result."""

from __future__ import annotations

import json
import sys


def progress_printer(args, learner, run_info: dict, collected: tuple[set, list], main: bool = True):
    """The progress callback: run ids and store warnings, epochs (text or JSON), live lines on a terminal.
    Only the main process of a data-parallel run prints (``main``)."""
    interactive = main and not args.json and sys.stderr.isatty()

    def on_run(rec):
        if rec["error"] and not (args.output or args.onnx):
            run_info["lost"] = True  # nothing would keep the model: stop now rather than after training
            run_info["stop"].set()
        elif rec["error"] and rec["error"] != run_info["error"]:
            print(f"fovea: warning: {rec['error']}", file=sys.stderr)
        run_info.update(run=rec["run"], error=rec["error"])

    def on_epoch(rec):
        collect_problems(learner, *collected)  # this stage's caches may be gone after the next one
        if not main:
            return
        out = {"run": run_info["run"], **{k: rec[k] for k in ("epoch", "train_loss", "valid_loss", "accuracy")}}
        out.update(seconds=rec["seconds"], phase="precomputed" if learner.config.precompute else "images")
        if args.json:
            print(json.dumps(out), flush=True)
            return
        if interactive:
            print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
        print(
            f"epoch {out['epoch']:>3}  train loss {out['train_loss']:.4f}  valid loss "
            f"{out['valid_loss']:.4f}  accuracy {out['accuracy']:.2%}  ({out['seconds']:.1f} s, {out['phase']})",
            flush=True,
        )

    def progress(rec):
        kind = rec.get("type")
        if kind == "run":
            on_run(rec)
        elif kind == "epoch":
            on_epoch(rec)
        elif interactive and kind == "precompute":
            print(f"\rprecomputing {rec['split']} activations {rec['done']}/{rec['total']}", end="", file=sys.stderr)
        elif interactive and kind == "batch":
            print(f"\repoch {rec['epoch']:.2f}  loss {rec['loss']:.4f}  lr {rec['lr']:.3g}   ", end="", file=sys.stderr)

    return progress, interactive


def collect_problems(learner, skipped: set, cache: list) -> None:
    """Files left out and feature-cache repairs of the stage running now (its caches are dropped later)."""
    for fs in learner.features.values():
        skipped.update(fs.errors)
        cache.extend(p for p in fs.cache_problems if p not in cache)
    for loader in learner.image_loaders():  # images decoded for training without precompute
        skipped.update(loader.errors.items())


def report(args, final: dict, skipped: set, cache_problems: list, result: dict) -> None:
    """The final JSON object, or the skipped files, cache repairs and a one-line summary."""
    if args.json:
        print(json.dumps(final), flush=True)
        return
    for p, reason in sorted(dict(skipped).items()):
        print(f"skipped {p}: {reason}", file=sys.stderr)
    for problem in cache_problems:
        print(f"feature cache: {problem}", file=sys.stderr)
    kept = f"run {result['run']}" if result["run"] is not None and not result["store_error"] else ""
    where = [final[k] for k in ("model", "onnx") if final.get(k)] + (
        [f"{kept} (fovea runs show {result['run']})"] if kept else []
    )
    print(
        f"accuracy {final['accuracy']:.2%}{' (TTA)' if final['tta'] else ''} after {final['epochs']} "
        f"epoch{'s' if final['epochs'] != 1 else ''}, {final['seconds']:.1f} s → {' and '.join(where) or 'nowhere'}"
    )


def final_record(run, model_path, fields: dict, ds, seconds: float, problems, onnx_path=None, store_error="") -> dict:
    """What `train` reports at the end (printed, or one JSON line): the run, the model file, ``fields``
    (accuracy, epochs… in order), the time, the classes and the files skipped or repaired (``problems``:
    (skipped, cache_problems) as collect_problems fills them)."""
    skipped, cache_problems = problems
    final = {"run": run, "model": str(model_path) if model_path else None, **fields}
    final.update(
        seconds=seconds,
        classes=ds.classes,
        skipped=sorted({p for p, _ in skipped}),
        cache_repairs=cache_problems,
    )
    if onnx_path:
        final["onnx"] = str(onnx_path)
    if store_error:
        final["store_error"] = store_error
    return final
