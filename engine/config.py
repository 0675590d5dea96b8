"""What a training run is asked to do (``TrainConfig``) and the rules about it that the window, the
CLI and the trainer share: LR multipliers, and whether a model in memory can continue with a config.

No torch here: the window imports this at start-up.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

DEFAULT_ARCH = "efficientnet_lite0"
ARCHITECTURES = ("efficientnet_lite0", "resnet18", "resnet34", "resnet50")
# Not offered to users: a ~25k-parameter CNN with fixed seeded "pretrained" weights, for fast tests.
TEST_ARCHITECTURES = ("tiny_cnn",)

SCHEDULES = ("sgdr", "one_cycle", "constant")
AUGMENTATIONS = ("none", "side_on", "top_down")
OPTIMIZERS = ("sgd", "adamw")
WARMUP_FRACTION = 1 / 20  # of the first SGDR cycle (fastai 0.7 used nb/20)
IMAGE_CACHE_BYTES = 768 << 20  # decoded, resized training images kept in RAM between epochs
FROZEN_CACHE_BYTES = 1 << 30  # cached activations of the frozen early layers (frozen_views), all views
MAX_FROZEN_VIEWS = 32

# ---------------------------------------------------------------- limits
# Every count a user, a settings file or a model file can set has an upper bound, so a typo or a
# hostile file cannot make Fovea spin or allocate without end (README, "Limits and safety").
MAX_IMAGE_SIZE = 1024  # input pixels per side
MAX_BATCH_SIZE = 4096
MAX_EPOCHS = 1000  # epochs of one fit, every SGDR cycle counted
MAX_CYCLES = 100
MAX_LR_FIND_ITERS = 10_000
MAX_CLASSES = 10_000
MAX_SEED = 2**32 - 1
MAX_THREADS = 256  # torch threads and image decode threads
MAX_GRID = 4  # the finest pooling grid a multi-depth head may take (TrainConfig.grid, ModelMeta.grid)
MAX_HIDDEN = 4096  # the widest hidden layer a head may have (TrainConfig.hidden, ModelMeta.hidden)
MAX_TOP_K = 1000  # classes listed per prediction
MAX_IMAGE_FILE_BYTES = 256 << 20  # an image file larger than this is not read
MAX_MODEL_FILE_BYTES = 2 << 30  # a model or weights file larger than this is not opened


@dataclass
class TrainConfig:
    arch: str = DEFAULT_ARCH  # or resnet18/34/50
    size: int = 128  # input pixels
    bs: int = 64
    lr: float = 1e-2
    epochs: int = 3  # used when cycles is None
    cycles: int | None = None  # SGDR: cycles, cycle_len, cycle_mult
    cycle_len: int = 1
    cycle_mult: int = 1
    schedule: str = "sgdr"  # sgdr | one_cycle | constant
    precompute: bool = True
    aug: str = "none"  # none | side_on | top_down (ignored while precompute is on)
    unfreeze: bool = False
    lr_mult: tuple[float, ...] = (0.01, 0.1, 1.0)  # per layer group when unfrozen (0: keep that group frozen)
    tta: bool = False
    seed: int = 0
    weights_file: str | None = None
    device: str | None = None  # None = CUDA if present else CPU
    # beyond the shared contract (all optional)
    opt: str = "sgd"  # sgd (momentum 0.9, as fastai 0.7) | adamw
    wd: float = 1e-4  # weight decay
    threads: int | None = None  # torch CPU threads; None = all cores, less one for the UI when ≥ 4
    workers: int | None = None  # image decode threads; None = automatic
    label_smoothing: float = 0.0  # training loss only; valid loss is plain cross-entropy
    bn_freeze: bool = False  # keep the body's BatchNorm statistics fixed when unfrozen (fastai 0.7)
    # With unfreeze, precompute off and the early group frozen (lr_mult 0,…): run that group once per
    # image and view, cache its activations in RAM and train the late layers on them. Views per training
    # image: 1 the image, 2 also its mirror, more also random augmented copies (``aug``); each epoch
    # sees every image once, in one of its views. 0 = off (the frozen layers run on every batch).
    frozen_views: int = 0
    # Body layers whose pooled outputs the head takes, side by side (engine.networks.multi_depths);
    # () = the last layer's only, the lesson's head. Part of the network: a change makes a new model.
    depths: tuple[int, ...] = ()
    grid: int = 0  # with depths: each but the deepest also pooled as a grid × grid of means (networks.pool_depth)
    hidden: int = 512  # the head's hidden width; 0 = a linear head (networks.make_head)

    def total_epochs(self) -> int:
        """Epochs of the whole fit; past MAX_EPOCHS it stops counting (any larger number is too many)."""
        if self.cycles is None:
            return int(self.epochs)
        total, length = 0, int(self.cycle_len)
        for _ in range(int(self.cycles)):
            total += length
            if total > MAX_EPOCHS or length < 1:
                break
            length *= int(self.cycle_mult)
        return total

    def check(self) -> None:
        """Raise ValueError with a clear message for settings that cannot work."""
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule '{self.schedule}' (choose {', '.join(SCHEDULES)})")
        if self.aug not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation '{self.aug}' (choose {', '.join(AUGMENTATIONS)})")
        if self.opt not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer '{self.opt}' (choose {', '.join(OPTIMIZERS)})")
        check_count("image size", self.size, 16, MAX_IMAGE_SIZE, " pixels")
        check_count("batch size", self.bs, 2, MAX_BATCH_SIZE)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be a positive number (got {self.lr})")
        if not (self.wd >= 0 and math.isfinite(self.wd)):
            raise ValueError(f"weight decay must be a number ≥ 0 (got {self.wd})")
        if self.cycles is None:
            check_count("epochs", self.epochs, 1, MAX_EPOCHS)
        else:
            check_count("cycles", self.cycles, 1, MAX_CYCLES)
            if self.cycle_len < 1 or self.cycle_mult < 1:
                raise ValueError("cycles, cycle length and cycle multiplier must each be at least 1")
            if self.total_epochs() > MAX_EPOCHS:
                raise ValueError(
                    f"{self.cycles} cycles of {self.cycle_len} epoch(s), each {self.cycle_mult}× longer, make "
                    f"more than {MAX_EPOCHS} epochs (the limit)"
                )
        check_count("seed", self.seed, 0, MAX_SEED)
        for name, value in (("threads", self.threads), ("workers", self.workers)):
            if value is not None:
                check_count(name, value, 1, MAX_THREADS)
        check_lr_multipliers(self.lr_mult)
        if not 0 <= int(self.frozen_views) <= MAX_FROZEN_VIEWS:
            raise ValueError(
                f"cached views of the frozen layers must be 0 (off) to {MAX_FROZEN_VIEWS} (got {self.frozen_views})"
            )
        if not all(isinstance(d, int) and 0 <= d < 1000 for d in self.depths):
            raise ValueError(f"feature depths must be body layer numbers (got {self.depths!r})")
        if not (isinstance(self.grid, int) and 0 <= self.grid <= MAX_GRID):
            raise ValueError(f"the pooling grid must be 0 (off) to {MAX_GRID} (got {self.grid!r})")
        if not (isinstance(self.hidden, int) and 0 <= self.hidden <= MAX_HIDDEN):
            raise ValueError(f"the head's hidden width must be 0 (a linear head) to {MAX_HIDDEN} (got {self.hidden!r})")
        if self.depths and self.frozen_views:
            raise ValueError("cached views of the frozen layers need the last layer's head only (no feature depths)")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label smoothing must be from 0 to below 1 (got {self.label_smoothing})")

    def caches_frozen_layers(self) -> bool:
        """Whether a fit with this config trains the late layers on cached early-layer activations."""
        return (
            self.frozen_views > 0
            and self.unfreeze
            and not self.precompute
            and len(self.lr_mult) == 3
            and self.lr_mult[0] == 0
        )


def check_count(name: str, value, low: int, high: int, unit: str = "") -> int:
    """``value`` as an int within [low, high], or ValueError with one line naming the limit."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise ValueError(f"{name} must be a whole number from {low:,} to {high:,}{unit} (got {value!r})")
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low:,} to {high:,}{unit} (got {int(value):,})")
    return int(value)


# ---------------------------------------------------------------- LR multipliers

LR_MULT_HELP = "1 or 3 numbers ≥ 0 separated by commas, the last (the head's) > 0, e.g. 0.01,0.1,1"


def check_lr_multipliers(values) -> tuple[float, ...]:
    """The multipliers as a tuple, or ValueError naming the rule (one factor, or one per layer group)."""
    values = tuple(float(v) for v in values)
    if len(values) not in (1, 3) or not all(math.isfinite(v) and v >= 0 for v in values) or values[-1] <= 0:
        shown = ",".join(f"{v:g}" for v in values)
        raise ValueError(f"LR multipliers must be {LR_MULT_HELP} (got {shown or 'nothing'})")
    return values


def parse_lr_multipliers(text: str) -> tuple[float, ...]:
    """Parse "0.01, 0.1, 1" (commas, semicolons or spaces); ValueError with one clear line otherwise."""
    parts = [p for p in str(text).replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"LR multipliers must be {LR_MULT_HELP} (got '{text}')") from None
    return check_lr_multipliers(values)


# ---------------------------------------------------------------- can a model continue?

# The settings that define the network. Precompute, augmentation, unfreeze, the schedule… are not:
# lesson 1 continues the same model with precompute off, then augmentation, then unfreeze.
MODEL_KEYS = ("arch", "size", "weights_file", "device", "depths", "grid", "hidden")


def model_key(config: TrainConfig, classes) -> tuple:
    """What a model built for ``config`` on data with ``classes`` is: equal keys, same network."""
    return (*(getattr(config, k) for k in MODEL_KEYS), tuple(classes))


def can_continue(learner, dataset, config: TrainConfig) -> bool:
    """Whether ``learner`` (an engine.training.Learner, or None) can go on training with ``config``
    on ``dataset``: the same data and the same network. Otherwise a new model starts."""
    return (
        learner is not None
        and dataset is not None
        and learner.dataset is dataset
        and model_key(learner.config, dataset.classes) == model_key(config, dataset.classes)
    )


def config_dict(config: TrainConfig) -> dict:
    """A TrainConfig as plain JSON data (tuples become lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}


def config_from_dict(data: dict) -> TrainConfig:
    """The TrainConfig a run recorded or the window kept (unknown keys from other versions are ignored;
    not checked: call ``check()``)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names}
    return TrainConfig(**kw)
