"""`fovea train DATASET [-o MODEL]`: fine-tune a pretrained CNN headless, with the GUI's engine.

Every run is recorded in the run store (engine.run_training); ``-o`` also writes the model to a file."""

from __future__ import annotations

from engine.cli import device_arg
from engine.cli.launch import add_arguments as add_launch_arguments
from engine.config import (
    ARCHITECTURES,
    AUGMENTATIONS,
    DEFAULT_ARCH,
    MAX_FROZEN_VIEWS,
    SCHEDULES,
    TEST_ARCHITECTURES,
    TrainConfig,
    parse_lr_multipliers,
)
from engine.presets import DEFAULT_BUDGET_S, PRESETS

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
    from engine.cli.train_run import run as run_training  # torch: only when a run starts

    return run_training(args)
