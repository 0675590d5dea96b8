"""The body of `fovea train` (engine.cli.train parses; this module imports torch and trains)."""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import replace

from engine.cli import fail
from engine.cli.launch import launch_from_args, relaunch
from engine.cli.train import _config, recipe_of
from engine.cli.train_output import collect_problems, final_record, progress_printer, report
from engine.config import MAX_EPOCHS, check_count
from engine.data import DatasetError, scan_dataset
from engine.distributed import (
    DistributedLearner,
    Rank,
    exit_worker,
    joined,
    lost_contact,
    worker_config,
    worker_process,
)
from engine.jobs import Cancelled, describe_error, run_to_end
from engine.models import WeightsUnavailable, device_name, export_onnx
from engine.paths import check_free_space, check_output_path
from engine.presets import preset_configs
from engine.run_rules import lr_warning
from engine.run_training import train_run
from engine.runs import RunStore, UnrecordedStore
from engine.schedules import staged_configs
from engine.training import Learner


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
        code = _run(args, rank)
    exit_worker(code)  # never returns
    return code


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
    fields = {k: result[k] for k in ("accuracy", "valid_loss", "tta", "epochs")}
    problems = (skipped, cache_problems)
    final = final_record(result["run"], path, fields, ds, total_seconds, problems, onnx_path, result["store_error"])
    if main:
        report(args, final, skipped, cache_problems, result)
    return 0
