"""`fovea train DATASET [-o MODEL]`: fine-tune a pretrained CNN headless, with the GUI's engine.

Every run is recorded in the run store (engine.run_training); ``-o`` also writes the model to a file."""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import replace

from engine.cli import device_arg, fail
from engine.cli.launch import add_arguments as add_launch_arguments
from engine.cli.launch import launch_from_args, relaunch
from engine.cli.train_output import collect_problems, progress_printer, report
from engine.config import (
    AUGMENTATIONS,
    MAX_EPOCHS,
    MAX_FROZEN_VIEWS,
    SCHEDULES,
    TrainConfig,
    check_count,
    parse_lr_multipliers,
)
from engine.data import DatasetError, scan_dataset
from engine.distributed import DistributedLearner, Rank, joined, lost_contact, worker_config, worker_process
from engine.jobs import Cancelled, describe_error, run_to_end
from engine.models import ARCHITECTURES, DEFAULT_ARCH, TEST_ARCHITECTURES, WeightsUnavailable, device_name, export_onnx
from engine.paths import check_free_space, check_output_path
from engine.recipes import DEFAULT_BUDGET_S, PRESETS, preset_configs
from engine.run_rules import lr_warning
from engine.run_training import train_run
from engine.runs import RunStore, UnrecordedStore
from engine.schedules import staged_configs
from engine.training import Learner

RECIPES = tuple(name for name in PRESETS if name != "custom")


def _mults(text: str) -> tuple[float, ...]:
    import argparse

    try:
        return parse_lr_multipliers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub) -> None:
    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="fine-tune a pretrained CNN on a dataset folder and save the model",
        description="Fine-tune a pretrained CNN (fast.ai lesson 1). With --precompute the frozen body's "
        "activations are computed once (and cached); adding --aug or --unfreeze then continues "
        "with the whole model on the images, the lesson's recipe.",
    )
    p.add_argument("dataset", help="folder with train/<class>/ and valid/<class>/ images")
    p.add_argument(
        "-o",
        "--output",
        metavar="MODEL",
        help="model file to write (.pth); the run and its models are kept in the run store either way "
        "(see `fovea runs`)",
    )
    p.add_argument(
        "--arch",
        default=DEFAULT_ARCH,
        choices=ARCHITECTURES + TEST_ARCHITECTURES,
        metavar="{" + ",".join(ARCHITECTURES) + "}",
        help=f"backbone (default {DEFAULT_ARCH})",
    )
    p.add_argument("--size", type=int, default=d.size, help=f"input pixels (default {d.size})")
    p.add_argument("--bs", type=int, default=d.bs, help=f"batch size, per process (default {d.bs})")
    p.add_argument(
        "--recipe",
        choices=RECIPES,
        help="auto (the default without recipe flags: LR test, head with early stopping, fine-tuning "
        "when it helps within --budget), lesson1 (fit(0.01, 3) on precomputed activations) or "
        "lesson1-unfreeze (then augmentation, then unfrozen with SGDR). Any recipe flag below turns Auto off",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"Auto's time budget (default {DEFAULT_BUDGET_S:g} s): fine-tuning runs only while it fits",
    )
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {d.lr:g})")
    p.add_argument("--epochs", type=int, default=None, help=f"epochs, one cosine cycle (default {d.epochs})")
    p.add_argument("--cycles", type=int, default=None, help="SGDR: number of cycles")
    p.add_argument("--cycle-len", type=int, default=None, help="SGDR: epochs in the first cycle (default 1)")
    p.add_argument("--cycle-mult", type=int, default=None, help="SGDR: each cycle is this many times longer")
    p.add_argument("--schedule", default=None, choices=SCHEDULES, help=f"default {d.schedule}")
    p.add_argument(
        "--precompute", action="store_true", help="train the head on precomputed activations first (cached per file)"
    )
    p.add_argument(
        "--head-epochs",
        type=int,
        default=None,
        help="with --precompute and --aug/--unfreeze: epochs on the activations before the "
        "full-model stage (default: the same schedule)",
    )
    p.add_argument("--aug", default=None, choices=AUGMENTATIONS, help="data augmentation (off while precomputed)")
    p.add_argument("--unfreeze", action="store_true", help="train every layer (differential learning rates)")
    p.add_argument(
        "--lr-mult",
        type=_mults,
        default=None,
        metavar="A,B,C",
        help="LR multipliers for early body, late body, head when unfrozen; 0 keeps that group "
        "frozen (default 0.01,0.1,1)",
    )
    p.add_argument(
        "--frozen-views",
        type=int,
        default=None,
        metavar="N",
        help="with --unfreeze and a first multiplier of 0 (early layers frozen): run the frozen "
        "layers once per image and view and train the rest on their cached activations; "
        "views: 1 the image, 2 also its mirror, more also random --aug copies "
        f"(0 = off, the default; at most {MAX_FROZEN_VIEWS})",
    )
    p.add_argument("--opt", default=None, choices=("sgd", "adamw"), help="optimizer (default sgd, momentum 0.9)")
    p.add_argument("--wd", type=float, default=None, help=f"weight decay (default {d.wd:g})")
    p.add_argument("--tta", action="store_true", help="final accuracy with test-time augmentation")
    p.add_argument("--weights", metavar="FILE", help="pretrained weights file (.pth state dict) for --arch")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", type=device_arg, help="cpu, cuda, cuda:1 … (default: CUDA if present)")
    p.add_argument("--onnx", metavar="FILE", help="also export the trained model as ONNX")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object per epoch and a final one (with the run id)"
    )
    add_launch_arguments(p)
    p.set_defaults(run=run)


# The flags that say how to train (not on what, where or where to): any of them turns Auto off.
RECIPE_FLAGS = {
    "lr": "--lr",
    "epochs": "--epochs",
    "cycles": "--cycles",
    "cycle_len": "--cycle-len",
    "cycle_mult": "--cycle-mult",
    "schedule": "--schedule",
    "precompute": "--precompute",
    "head_epochs": "--head-epochs",
    "aug": "--aug",
    "unfreeze": "--unfreeze",
    "lr_mult": "--lr-mult",
    "frozen_views": "--frozen-views",
    "opt": "--opt",
    "wd": "--wd",
    "tta": "--tta",
}


def recipe_of(args) -> str | None:
    """Which recipe: "auto", a preset's name, or None for the recipe flags as given (today's behaviour).
    Data-parallel training (engine.cli.launch, torchrun) has no Auto: without flags, today's defaults."""
    given = [flag for dest, flag in RECIPE_FLAGS.items() if getattr(args, dest, None) not in (None, False)]
    if args.recipe and given:
        raise ValueError(f"give either --recipe or recipe flags ({', '.join(given)}), not both")
    if args.budget is not None and (given or args.recipe not in (None, "auto")):
        raise ValueError("--budget is Auto's: it goes with no recipe flags (or --recipe auto)")
    return args.recipe or (None if given else "auto")


def _config(args) -> TrainConfig:
    if args.epochs is not None and args.cycles is not None:
        raise ValueError("give either --epochs or --cycles, not both")
    d = TrainConfig()

    def given(name, default=None):
        value = getattr(args, name)
        return value if value is not None else (getattr(d, name) if default is None else default)

    return TrainConfig(
        arch=args.arch,
        size=args.size,
        bs=args.bs,
        lr=given("lr"),
        epochs=given("epochs"),
        cycles=args.cycles,
        cycle_len=given("cycle_len"),
        cycle_mult=given("cycle_mult"),
        schedule=given("schedule"),
        precompute=args.precompute,
        aug=given("aug"),
        unfreeze=args.unfreeze,
        lr_mult=given("lr_mult"),
        tta=args.tta,
        seed=args.seed,
        weights_file=args.weights,
        device=args.device,
        opt=given("opt"),
        wd=given("wd"),
        frozen_views=given("frozen_views"),
    )


def run(args) -> int:
    rank = Rank.from_env()  # set when torchrun started this process (engine.distributed)
    launch = launch_from_args(args)
    if launch is not None and rank is None:
        try:
            launch.check()
            _checked(args, None)  # a bad flag or folder fails here, once, not in every process
            if recipe_of(args) == "auto" and (args.recipe or args.budget is not None):
                raise ValueError(
                    "Auto trains in one process: leave out --recipe auto and --budget to train data-parallel"
                )
        except (ValueError, DatasetError, OSError) as exc:
            return fail(str(exc))
        return relaunch(getattr(args, "argv", sys.argv[1:]), launch, args.output)
    if rank is None:
        try:
            recipe = recipe_of(args)
        except ValueError as exc:
            return fail(str(exc))
        if recipe == "auto":
            from engine.cli.train_auto import run_auto

            try:
                config, ds = _checked(args, None)
            except (ValueError, DatasetError, OSError) as exc:
                return fail(str(exc))
            return run_auto(args, config, ds)
        return _run(args, None)
    with worker_process(rank):  # only rank 0 prints; SIGTERM from torchrun unwinds
        return _run(args, rank)


def _checked(args, rank: Rank | None):
    """(config, dataset) after every check that needs no training, or ValueError/DatasetError/OSError."""
    config = _config(args)
    if rank is not None:
        config = worker_config(config, rank)
    config.check()
    if args.head_epochs is not None:
        check_count("--head-epochs", args.head_epochs, 1, MAX_EPOCHS)
    if config.frozen_views and not replace(config, precompute=False).caches_frozen_layers():
        raise ValueError(
            "--frozen-views needs --unfreeze and --lr-mult with a first multiplier of 0 "
            "(e.g. 0,1,1: the early layers frozen)"
        )
    for flag, out in (("-o", args.output), ("--onnx", args.onnx)):
        if out is not None:
            check_output_path(out, flag)  # found out before training, not after
    ds = scan_dataset(args.dataset)
    if len(ds.train) < 2:
        raise ValueError(f"{ds.root} has fewer than 2 training images")
    if args.output:
        from engine.networks import expected_tensors

        needed = sum(b for _, b in expected_tensors(config.arch, len(ds.classes)).values())
        check_free_space(os.path.dirname(os.path.realpath(args.output)), needed, f"the model file {args.output}")
    return config, ds


def _run(args, rank: Rank | None) -> int:
    try:
        config, ds = _checked(args, rank)
    except (ValueError, DatasetError, OSError) as exc:
        return fail(str(exc))
    main = rank is None or rank.is_main  # one process prints, records the run and writes the files
    recipe = recipe_of(args)  # data-parallel: no Auto (one process's recipe), today's defaults instead
    presets = recipe not in (None, "auto")
    stages = preset_configs(recipe, config) if presets else staged_configs(config, args.head_epochs)
    learner = DistributedLearner(ds, stages[0], rank) if rank else Learner(ds, stages[0])
    warning = lr_warning(config.lr)
    if warning and main:
        print(f"fovea: warning: {warning}", file=sys.stderr)
    stop = threading.Event()
    if not args.json:
        print(f"{ds.root}: {len(ds.classes)} classes, {len(ds.train)} train, {len(ds.valid)} valid")
        print(f"{config.arch} at {config.size} px on {device_name(learner.device)}")
    run_info = {"run": None, "error": "", "lost": False, "stop": stop}
    skipped: set[tuple[str, str]] = set()
    cache_problems: list[str] = []
    progress, interactive = progress_printer(args, learner, run_info, (skipped, cache_problems), main)
    store = RunStore() if main else UnrecordedStore()
    try:
        t0 = time.perf_counter()
        with joined(rank, learner.device) if rank else nullcontext():
            result = run_to_end(train_run(learner, store, stages, stop), progress)
        total_seconds = time.perf_counter() - t0
        collect_problems(learner, skipped, cache_problems)
        path = learner.save(args.output) if args.output and main else None
        onnx_path = export_onnx(learner.model, args.onnx) if args.onnx and main else None
    except KeyboardInterrupt:
        stop.set()
        return fail("interrupted", 130)
    except Cancelled:
        if run_info["lost"]:
            return fail(f"{run_info['error'].split('. ')[0]}, and no -o was given: give -o MODEL.pth to keep the model")
        return fail("cancelled", 130)
    except WeightsUnavailable as exc:
        return fail(str(exc))
    except (ValueError, RuntimeError, OSError) as exc:
        return fail(lost_contact(exc) or describe_error(exc).strip().splitlines()[0])
    finally:
        if interactive:
            print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    final = {
        "run": result["run"],
        "model": str(path) if path else None,
        "accuracy": result["accuracy"],
        "valid_loss": result["valid_loss"],
        "tta": result["tta"],
        "epochs": result["epochs"],
        "seconds": total_seconds,
        "classes": ds.classes,
        "skipped": sorted({p for p, _ in skipped}),
        "cache_repairs": cache_problems,
    }
    if onnx_path:
        final["onnx"] = str(onnx_path)
    if result["store_error"]:
        final["store_error"] = result["store_error"]
    if main:
        report(args, final, skipped, cache_problems, result)
    return 0
