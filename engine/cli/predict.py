"""`fovea predict (MODEL | --imagenet) IMAGE… [--top 3] [--json]` and `fovea predict MODEL --folder DIR [--csv OUT] [--kaggle]`."""

from __future__ import annotations

import json
import sys

from engine.cli import device_arg, fail
from engine.jobs import run_to_end


def register(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="classify images with a saved model or the pretrained ImageNet model",
        description="Classify image files, URLs or a folder. Unreadable files are reported one by one "
        "and do not stop the rest.",
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="MODEL_OR_IMAGE",
        help="a saved model file or a stored run's id (7, or 7:last for its last epoch; see `fovea runs`) "
        "followed by images (or only images with --imagenet)",
    )
    p.add_argument("--imagenet", action="store_true", help="use the pretrained ImageNet model (1000 classes)")
    p.add_argument("--folder", metavar="DIR", help="classify every image in DIR (e.g. a dataset's test/)")
    p.add_argument("--top", type=int, default=3, metavar="K", help="show the K most likely classes (default 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--csv", metavar="OUT.csv", help="write file,class,probability rows (or id,label with --kaggle)")
    p.add_argument(
        "--kaggle",
        action="store_true",
        help="Kaggle Dogs vs Cats submission: id,label with label = P(dog); written to --csv or stdout",
    )
    p.add_argument("--tta", action="store_true", help="test-time augmentation (average of 6 views, slower)")
    p.add_argument("--bs", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--device", type=device_arg, help="cpu, cuda, cuda:1 … (default: CUDA if present)")
    p.set_defaults(run=run)


def _load(args):
    from engine.inference import imagenet_model
    from engine.models import WeightsUnavailable

    try:
        if args.imagenet:
            return imagenet_model(), list(args.inputs)
        if not args.inputs:
            raise ValueError("give a model file (or --imagenet) and images or --folder DIR")
        return _model(args.inputs[0]), list(args.inputs[1:])
    except WeightsUnavailable as exc:
        raise ValueError(str(exc)) from None


def _model(text: str):
    """A model file, or (when no such file exists) a stored run's model: "7" or "7:last"."""
    import os

    from engine.models import load_model
    from engine.run_records import parse_run_ref

    ref = None if os.path.exists(text) else parse_run_ref(text)
    if ref is None:
        return load_model(text)
    from engine.runs import RunStore

    return RunStore().load_model(*ref)


def _model_and_sources(args):
    """(model, sources) after every check that needs no prediction; ValueError with one line."""
    import os

    from engine.config import MAX_BATCH_SIZE, MAX_TOP_K, check_count
    from engine.images import ImageError
    from engine.inference import dog_class_index, expand_sources
    from engine.paths import check_output_path

    check_count("--top", args.top, 1, MAX_TOP_K)
    check_count("--bs", args.bs, 1, MAX_BATCH_SIZE)
    if args.csv is not None:
        check_output_path(args.csv, "--csv")  # before the model loads and the images are read
    model, images = _load(args)
    if args.folder:
        if not os.path.isdir(args.folder):
            raise ValueError(f"{args.folder} is not a folder")
        images.append(args.folder)
    if not images:
        raise ValueError("no images given: list image files or URLs, or use --folder DIR")
    try:
        sources = expand_sources(images)
    except ImageError as exc:
        raise ValueError(str(exc)) from None
    if not sources:
        raise ValueError(f"no image files found in {', '.join(images)}")
    if args.kaggle:
        dog_class_index(model.meta.classes)
    return model, sources


def _printer(args, n_sources: int):
    quiet = args.json or (args.kaggle and not args.csv)
    show_progress = sys.stderr.isatty() and n_sources > 1

    def on_progress(rec):
        for r in rec["results"]:
            if r["error"]:
                if not args.json:
                    print(f"{r['source']}: {r['error']}", file=sys.stderr)
            elif not quiet and not args.csv:
                tops = "  ".join(f"{c} {p:.1%}" for c, p in r["top"])
                print(f"{r['source']}\t{tops}\t({r['ms']:.0f} ms)")
        if show_progress:
            print(f"\r{rec['done']}/{rec['total']}", end="" if rec["done"] < rec["total"] else "\n", file=sys.stderr)

    return on_progress


def _write_csv(args, pred) -> None:
    from engine.inference import kaggle_from_predictions, prediction_rows, write_kaggle_csv, write_predictions_csv

    if args.kaggle:
        rows = kaggle_from_predictions(pred)
        if pred.errors:
            print(
                f"fovea: {len(pred.errors)} unreadable file(s) got label 0.5 so the submission stays complete",
                file=sys.stderr,
            )
        write_kaggle_csv(rows, args.csv or sys.stdout)
    elif args.csv:
        write_predictions_csv(prediction_rows(pred), args.csv)


def _json(args, model, sources, pred) -> dict:
    from engine.inference import describe_model, top_k

    out = {
        "model": describe_model(model),
        "device": pred.device,
        "tta": pred.tta,
        "seconds": round(pred.seconds, 4),
        "predictions": [],
        "errors": [],
    }
    for i, src in enumerate(sources):
        name = src if isinstance(src, str) else str(src)
        if i in pred.errors:
            out["errors"].append({"file": name, "error": pred.errors[i]})
            continue
        top = top_k(pred.probs[i], pred.classes, args.top)
        out["predictions"].append(
            {
                "file": name,
                "class": top[0][0],
                "probability": round(top[0][1], 6),
                "top": [{"class": c, "probability": round(p, 6)} for c, p in top],
            }
        )
    return out


def run(args) -> int:
    from engine.inference import predict_images
    from engine.jobs import describe_error

    try:
        model, sources = _model_and_sources(args)
    except ValueError as exc:
        return fail(str(exc))
    try:
        pred = run_to_end(
            predict_images(model, sources, bs=args.bs, device=args.device, tta=args.tta, top=args.top),
            _printer(args, len(sources)),
        )
    except (RuntimeError, ValueError) as exc:
        return fail(describe_error(exc).strip().splitlines()[0])
    n_ok = len(sources) - len(pred.errors)
    try:
        _write_csv(args, pred)
    except OSError as exc:
        return fail(f"cannot write {args.csv}: {exc.strerror or exc}")
    if args.csv and not args.json:
        print(f"wrote {args.csv}: {n_ok if not args.kaggle else len(sources)} row(s)", file=sys.stderr)
    if args.json:
        print(json.dumps(_json(args, model, sources, pred), indent=1))
    if n_ok == 0:
        if not args.json:
            print("fovea: error: none of the images could be classified", file=sys.stderr)
        return 1
    return 0
