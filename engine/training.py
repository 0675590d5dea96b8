"""Fine-tune a pretrained CNN the fast.ai lesson-1 way, as an engine job.

``Learner(dataset, TrainConfig(...))`` is cheap; ``prepare()`` builds the model and
(with ``precompute``) the cached features; ``fit()`` trains, yielding per-batch and
per-epoch records, and returns the final metrics. Calling ``fit()`` again with a
changed config continues from the current weights — the lesson's sequence:
precompute + head, then ``precompute=False`` with augmentation, then ``unfreeze``
with differential learning rates.

With ``precompute`` on, only ``head[1:]`` trains, on the frozen body's concat-pooled
activations (engine.features); the body is frozen and augmentation is off (the
features of an augmented image would differ every epoch).

With ``frozen_views`` (unfrozen, early group kept frozen by an LR multiplier of 0), the
middle way: the frozen early layers run once per training image and view — the image,
its mirror, random augmented copies — and the late layers train on those cached
activations, each epoch on one view per image (Learner.cache_frozen_layers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.batches import ImageBatches, augment_batch, feature_batches
from engine.compute import compute_threads, torch_threads
from engine.config import TrainConfig, can_continue, model_key
from engine.data import Dataset
from engine.features import FeatureSet, autocast_dtype, fast_inference_copy
from engine.fitting import Fit, fit_result, make_optimizer, train_epoch
from engine.frozen_layers import FrozenActivations, FrozenPrefix, cache_frozen_layers, frozen_batches, frozen_key
from engine.learner_files import precompute_learner_features, save_learner
from engine.lr_find_parts import LRFindParts, lr_find_parts
from engine.models import FoveaModel, create_model, pick_device
from engine.records import PrecomputeRecord, TrainingRecord
from engine.schedules import batch_count, batch_slices, planned_schedule


class Learner:
    """A model being fine-tuned on a dataset; cheap to create, heavy work happens in jobs."""

    def __init__(self, dataset: Dataset, config: TrainConfig):
        self.dataset = dataset
        self.config = config
        self.device: torch.device = pick_device(config.device)
        self.model: FoveaModel | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.features: dict[str, FeatureSet] = {}
        self.history: list[dict] = []  # epoch records of every fit, in order
        self.metrics: dict = {}  # the last fit's/evaluation's results
        # what the weights are (engine.runs): {} fresh from pretrained, else run, epoch, its metrics, state
        self.weights_from: dict = {}
        self.fits = 0
        self._built_for: tuple | None = None
        self._space: tuple[str, dict] | None = None
        self._fast_body: nn.Module | None = None
        self._images: dict[str, ImageBatches] = {}
        self._frozen: FrozenActivations | None = None
        self._scaler = None
        self._optimizer_kind = ""

    # ------------------------------------------------------------ building

    @property
    def amp(self) -> torch.dtype | None:
        return autocast_dtype(self.device)

    @property
    def channels_last(self) -> bool:
        # faster on CUDA (tensor cores) and on CPU too (oneDNN convolutions), measured
        return True

    def _model_key(self) -> tuple:
        return (*model_key(self.config, self.dataset.classes), str(self.device))

    def _ensure_model(self) -> None:
        self.config.check()
        self.device = pick_device(self.config.device)
        if self.model is not None and self._built_for == self._model_key():
            return
        torch.manual_seed(self.config.seed)  # the new head's initial weights
        c = self.config
        self._use(
            create_model(
                c.arch,
                self.dataset.classes,
                c.size,
                c.weights_file,
                depths=tuple(c.depths),
                grid=c.grid,
                hidden=c.hidden,
            )
        )

    def _use(self, model: FoveaModel) -> None:
        """Make ``model`` this learner's, on its device; forget what was built for the previous one."""
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.eval()
        self._built_for = self._model_key()
        self.optimizer = None
        self.features = {}
        self._space = self._fast_body = None
        self._images = {}
        self._frozen = None
        self.history = []
        self.fits = 0
        self.weights_from = dict(model.meta.run)

    def use_model(self, model: FoveaModel) -> None:
        """Continue from ``model`` (a stored run's or a saved file's) instead of fresh pretrained weights;
        ``weights_from`` becomes what its meta says. Its architecture, image size and classes must be
        this config's and this dataset's."""
        self.config.check()
        self.device = pick_device(self.config.device)
        meta, c = model.meta, self.config
        have = (meta.arch, int(meta.image_size), list(meta.classes), tuple(meta.depths), int(meta.grid), meta.hidden)
        want = (c.arch, int(c.size), list(self.dataset.classes), tuple(c.depths), c.grid if c.depths else 0, c.hidden)
        if have != want:
            raise ValueError(
                f"this model ({have[0]}, {have[1]} px, classes {', '.join(have[2])}) cannot continue here "
                f"({want[0]}, {want[1]} px, classes {', '.join(want[2])}): a new model is needed"
            )
        self._use(model)

    def _apply_freeze(self) -> None:
        """Head only with precompute or without unfreeze; else every group whose LR multiplier is > 0."""
        if self.config.unfreeze and not self.config.precompute:
            self.model.unfreeze()
            for group, mult in zip(self.model.layer_groups(), self._lr_mults(), strict=False):
                if mult == 0:
                    for m in group:
                        m.requires_grad_(False)
        else:
            self.model.freeze_to(-1)

    def _lr_mults(self) -> list[float]:
        m = [float(v) for v in self.config.lr_mult]
        if len(m) == 1:
            m = m * 3
        return m if self.config.unfreeze and not self.config.precompute else [m[0], m[1], 1.0]

    def _ensure_optimizer(self) -> torch.optim.Optimizer:
        """One optimizer over the three layer groups (frozen ones carry no gradients)."""
        kind = self.config.opt
        if self.optimizer is not None and self._optimizer_kind == kind:
            for group in self.optimizer.param_groups:
                group["weight_decay"] = self.config.wd
            return self.optimizer
        self.optimizer, self._optimizer_kind = make_optimizer(self.model, self.config), kind
        return self.optimizer

    def iters_per_epoch(self) -> int:
        if self.config.precompute and "train" in self.features:
            n = len(self.features["train"])
        elif self.config.caches_frozen_layers() and self._frozen is not None:
            n = self._frozen.train.shape[1]
        else:
            n = len(self.dataset.train)
        return batch_count(self.epoch_share(n), int(self.config.bs))

    def schedule(self) -> list[float]:
        """The learning rate of every iteration of the planned fit (the lesson's plot_lr)."""
        return planned_schedule(self.config, self.iters_per_epoch())

    def prepare(self, stop: threading.Event | None = None) -> Iterator[PrecomputeRecord]:
        """Job: build the model and, with precompute on, compute/reuse the cached features.

        Yields {"type": "precompute", "split": ..., "done": int, "total": int}; returns None.
        """
        with torch_threads(compute_threads(self.config.threads)):
            self._ensure_model()
            if len(self.dataset.train) < 2:
                raise ValueError("training needs at least 2 images in train/")
            if len(self.dataset.classes) < 2:
                raise ValueError(
                    f"training needs at least 2 classes (one folder per class in train/); "
                    f"found only {', '.join(map(repr, self.dataset.classes)) or 'none'}"
                )
            if not self.config.precompute:
                return None
            yield from precompute_learner_features(self, stop)
        return None

    def use_features(self, features: dict[str, FeatureSet]) -> None:
        """Build the model and train its head on these precomputed activations (e.g. some columns of
        another learner's multi-depth set) instead of computing them."""
        self._ensure_model()
        self.features = dict(features)

    def cache_frozen_layers(self, stop: threading.Event | None = None):
        """Job: the frozen early group's activations for every training view and valid image, kept in
        RAM while their key (model, early weights, aug, views, seed) is unchanged (engine.frozen_layers)."""
        key = frozen_key(self.model, self._built_for, self.config)
        if self._frozen is not None and self._frozen.key == key:
            return self._frozen
        self._frozen = None
        counts = (len(self.dataset.train), len(self.dataset.valid))
        self._frozen = yield from cache_frozen_layers(
            self.model, key, self.config, self.device, counts, self.image_loader, stop
        )
        return self._frozen

    # ------------------------------------------------------------ data-parallel hooks
    # One process trains on everything; engine.distributed.DistributedLearner overrides these four.

    def epoch_share(self, n: int) -> int:
        """How many of an epoch's ``n`` items this process trains on."""
        return n

    def epoch_order(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """This process's part of an epoch's shuffled order of ``n`` items."""
        return rng.permutation(n)

    def begin_validation(self) -> tuple[int, int]:
        """(k, m): this process scores valid items k, k + m, k + 2m, …"""
        return 0, 1

    def end_validation(self, totals: np.ndarray) -> np.ndarray:
        """(loss sum, correct, count) over every process."""
        return totals

    # ------------------------------------------------------------ training

    def image_loaders(self) -> list[ImageBatches]:
        """The decoders of the images trained or validated on (each keeps its files' errors)."""
        return list(self._images.values())

    def image_loader(self, split: str) -> ImageBatches:
        if split not in self._images:
            c, meta = self.config, self.model.meta
            self._images[split] = ImageBatches(
                self.dataset.items(split), int(c.size), meta.mean, meta.std, self.device, c.workers
            )
        return self._images[split]

    def _image_batches(self, rng: np.random.Generator, epoch_seed: int, stop=None):
        loader = self.image_loader("train")
        order = self.epoch_order(len(loader.items), rng)
        gen = torch.Generator().manual_seed(epoch_seed)
        for x, y in loader.iterate(
            order,
            batch_slices(len(order), int(self.config.bs)),
            stop,
            channels_last=self.channels_last,
            min_batch=2,
        ):
            if self.config.aug != "none":
                x = augment_batch(x, self.config.aug, gen)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
            yield x, y

    def epoch_batches(self, fit: Fit, rng: np.random.Generator, epoch: int, stop=None):
        c = self.config
        if c.precompute:
            fs = self.features["train"]
            return feature_batches(fs, c.bs, rng, self.device, self.epoch_order(len(fs), rng))
        if fit.frozen is not None:
            order = self.epoch_order(fit.frozen.train.shape[1], rng)
            return frozen_batches(fit.frozen, c.bs, rng, self.device, order)
        return self._image_batches(rng, c.seed * 100003 + self.fits * 1009 + epoch, stop)

    def _trainable(self, frozen: FrozenActivations | None = None) -> nn.Module:
        """What the optimizer's gradients come from: head[1:] on features, the late groups on
        cached early activations, else the model — with its frozen leading layers run as a fast
        no-grad copy (BN folded, channels_last)."""
        if self.config.precompute:
            return self.model.head[1:]
        groups = self.model.layer_groups()
        if frozen is not None:
            return nn.Sequential(*[m for g in groups[1:] for m in g])
        if self.model.meta.depths:  # the head takes earlier layers' outputs too: the whole forward runs
            return self.model
        k = 0
        while k < len(groups) - 1 and not any(p.requires_grad for m in groups[k] for p in m.parameters()):
            k += 1
        if k == 0:
            return self.model
        prefix = nn.Sequential(*[m for g in groups[:k] for m in g])
        rest = nn.Sequential(*[m for g in groups[k:] for m in g])
        return FrozenPrefix(fast_inference_copy(prefix, self.device, min(64, self.config.size)), rest)

    def train_mode(self, module: nn.Module) -> None:
        self.model.train()
        module.train()
        if self.config.bn_freeze:
            for m in self.model.body.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()

    def step(self, module: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor) -> float:
        amp = self.amp
        with torch.autocast(self.device.type, dtype=amp, enabled=amp is not None):
            loss = F.cross_entropy(module(x), y, label_smoothing=self.config.label_smoothing)
        opt.zero_grad(set_to_none=True)
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
            self._scaler.step(opt)
            self._scaler.update()
        else:
            loss.backward()
            opt.step()
        return float(loss.detach())

    def _begin_fit(self, stop=None):
        """Job part: build/prepare everything a fit needs; returns the Fit."""
        c = self.config
        yield from self.prepare(stop)
        self._apply_freeze()
        frozen = None
        if c.caches_frozen_layers():
            frozen = yield from self.cache_frozen_layers(stop)
        else:
            self._frozen = None  # up to FROZEN_CACHE_BYTES of RAM: keep it only while it is used
        opt = self._ensure_optimizer()
        ipe = self.iters_per_epoch()
        if ipe == 0:
            raise ValueError("training needs at least 2 usable images in train/")
        module = self._trainable(frozen)
        self._scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        self.fits += 1
        torch.manual_seed(c.seed * 1009 + self.fits)  # dropout masks
        return Fit(module, opt, self._lr_mults(), planned_schedule(c, ipe), ipe, c.total_epochs(), frozen)

    def fit(self, stop: threading.Event | None = None) -> Generator[TrainingRecord, None, dict]:
        """Job: train per ``config``; yields batch and epoch records, returns final metrics.

        Batch: {"type": "batch", "epoch": float, "iteration": int, "loss": float, "lr": float};
        epoch: {"type": "epoch", "epoch": int, "train_loss", "valid_loss", "accuracy", "seconds"}.
        Iterations and epochs count from this fit's start (``schedule()`` has one LR per iteration).
        Returns {"accuracy", "valid_loss", "train_loss", "history", "seconds", "epochs", "tta"}.
        Cancel (``stop``) stops within one batch: the model keeps its last completed step.
        """
        c = self.config
        c.check()
        start = time.perf_counter()
        with torch_threads(compute_threads(c.threads)):
            fit = yield from self._begin_fit(stop)
            body_trains = not c.precompute and c.unfreeze
            try:
                for epoch in range(fit.epochs):
                    record = yield from train_epoch(self, fit, epoch, stop)
                    fit.history.append(record)
                    self.history.append(record)
                    yield record
                return (yield from fit_result(self, fit, start, stop))
            finally:
                self.model.eval()
                self._scaler = None
                if body_trains and fit.iteration > 0:  # cached features no longer describe this body
                    self.features, self._space, self._fast_body = {}, None, None

    # ------------------------------------------------------------ evaluation

    def evaluate(self, tta: bool | None = None, stop: threading.Event | None = None):
        """Job: the whole model on the valid images (engine.inference.evaluate, TTA if asked).

        ``tta`` default: config.tta. Yields {"type": "evaluate", "done", "total"}; returns
        engine.inference.Evaluation (accuracy, loss, probs, confusion matrix, ...).
        """
        from engine.inference import evaluate as evaluate_model

        tta = self.config.tta if tta is None else tta
        with torch_threads(compute_threads(self.config.threads)):
            if self.model is None:
                yield from self.prepare(stop)
            was = self.model.training
            try:
                return (
                    yield from evaluate_model(
                        self.model,
                        self.dataset.valid,
                        tta=tta,
                        stop=stop,
                        bs=max(int(self.config.bs), 32),
                        device=self.device,
                    )
                )
            finally:
                self.model.train(was)

    # ------------------------------------------------------------ LR finder, saving

    def lr_find_parts(self) -> LRFindParts:
        """What the LR finder needs, after prepare() (engine.lr_find_parts)."""
        return lr_find_parts(self)

    def save(self, path) -> Path:
        """Write the model file (engine.models.save_model) with metrics, settings and its run in meta."""
        return save_learner(self, path)


def learner_for(current: Learner | None, dataset: Dataset, config: TrainConfig) -> Learner:
    """``current`` set to go on with ``config`` when it can (engine.config.can_continue: same data, same
    network), else a new Learner: what Train and the LR finder both ask before they run."""
    if can_continue(current, dataset, config):
        current.config = config
        return current
    return Learner(dataset, config)
