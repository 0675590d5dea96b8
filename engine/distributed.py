"""Data-parallel training: one process per GPU (or per share of the CPU cores), started by torchrun.

torchrun (``python -m torch.distributed.run``) starts the processes and tells each its place in
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``; ``Rank.from_env`` reads them and
``joined`` connects the processes (NCCL on CUDA, gloo on CPU). A ``DistributedLearner`` then trains
exactly like a ``Learner``, with these differences:

- each epoch's shuffled order (the same in every process: it comes from the seed) is split into one
  shard per process the way ``torch.utils.data.DistributedSampler`` does it (``shard``);
- DistributedDataParallel averages the gradients, so N processes at batch B take the steps of one
  process at batch N×B; batch losses are averaged too, so every process logs the same loss and a
  non-finite one stops them all at the same step;
- BatchNorm is not synchronised (SyncBatchNorm needs a GPU): each process normalises its own batch,
  DDP gives every process rank 0's running statistics before each step and validation starts
  from them, so the model every process scores is the one rank 0 saves;
- validation: process k scores valid items k, k+N, …; the sums are all-reduced, so every process,
  the log and the model file report the same accuracy;
- precompute: process k computes the activations of files k, k+N, … (one writer per file, written
  atomically by engine.features), then all wait for each other and load the whole, now cached, set.
  Machines that do not share the feature cache (FOVEA_HOME) each compute every file, split between
  their own processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from engine.compute import compute_threads, torch_threads
from engine.config import TrainConfig
from engine.features import feature_space, precompute_features
from engine.paths import cache_dir
from engine.training import Learner

# Long enough for one process to precompute its share of a large dataset while the others wait.
COLLECTIVE_TIMEOUT = timedelta(hours=2)
# Test mode: each process appends what it trained on and scored to FOLDER/rank<k>.jsonl.
TRACE_ENV = "FOVEA_DIST_TRACE"


@dataclass(frozen=True)
class Rank:
    """This process's place in a data-parallel run."""

    rank: int  # 0 … world - 1 over every node
    world: int  # processes in the run
    local_rank: int  # on this node: the GPU it uses
    local_world: int  # processes on this node

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, env=None) -> Rank | None:
        """The place torchrun gave this process, or None when torchrun did not start it."""
        env = os.environ if env is None else env
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return None
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        return cls(rank, world, int(env.get("LOCAL_RANK", rank)), int(env.get("LOCAL_WORLD_SIZE", world)))


def local_gpu_count() -> int:
    """How many processes this machine can train with: one per CUDA GPU (the GUI offers more than one
    only when this is 2 or more)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def worker_config(config: TrainConfig, rank: Rank) -> TrainConfig:
    """``config`` for this process: its own GPU (cuda:LOCAL_RANK), or on a CPU its share of the cores.
    ValueError when this machine has fewer GPUs than processes or one GPU is named for all of them."""
    if torch.cuda.is_available() and (config.device or "cuda").startswith("cuda"):
        if config.device not in (None, "cuda") and rank.local_world > 1:
            raise ValueError(
                f"--device {config.device} with {rank.local_world} processes on a machine: each process uses "
                "its own GPU (pick them with CUDA_VISIBLE_DEVICES), so give --device cuda or leave it out"
            )
        if config.device in (None, "cuda"):
            if rank.local_rank >= torch.cuda.device_count():
                raise ValueError(
                    f"{rank.local_world} processes on this machine but {torch.cuda.device_count()} GPU(s): "
                    "give --nproc-per-node at most that, or --device cpu"
                )
            return replace(config, device=f"cuda:{rank.local_rank}")
    if config.threads is None and (config.device or "cpu").startswith("cpu"):
        return replace(config, threads=max(1, compute_threads() // rank.local_world))
    return config


def shard(order: np.ndarray, rank: int, world: int) -> np.ndarray:
    """Process ``rank``'s part of ``order``, as DistributedSampler (drop_last=False) splits it: the order
    is padded with its own first items to a multiple of ``world``, then process k takes positions
    k, k + world, … The parts are disjoint apart from the padding and together cover ``order``."""
    order = np.asarray(order)
    padded = np.resize(order, shard_len(len(order), world) * world)  # np.resize repeats from the start
    return padded[rank::world]


def shard_len(n: int, world: int) -> int:
    """Items per process when ``n`` items are split over ``world`` processes (shard's padding)."""
    return -(-int(n) // int(world))


def _terminated(signum, frame):
    # torchrun stops the other processes with SIGTERM when one fails: unwind, so that every `finally`
    # runs (atomic_file removes its temporary file) instead of dying mid-write
    raise SystemExit("fovea: error: stopped: another process of the run failed, or the run was stopped")


@contextmanager
def worker_process(rank: Rank) -> Iterator[Rank]:
    """For the whole life of a torchrun worker: SIGTERM unwinds (no half-written file is left behind),
    and only rank 0 prints on stdout."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        if rank.is_main:
            yield rank
        else:
            with open(os.devnull, "w") as quiet, redirect_stdout(quiet):
                yield rank
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def joined(rank: Rank, device: torch.device) -> Iterator[Rank]:
    """Join the run's process group (NCCL for a GPU, gloo for the CPU) for the block, then leave it."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    try:
        yield rank
    finally:
        dist.destroy_process_group()


def exit_worker(code: int) -> None:
    """End a torchrun worker now that its files are written: flush, then leave without the interpreter's
    finalization, where gloo's threads, still holding tensors, sometimes abort the process ("terminate
    called without an active exception") after a run that succeeded."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def lost_contact(exc: BaseException) -> str | None:
    """One line for an error of the connection between the processes (another one died), else None."""
    if not isinstance(exc, dist.DistError):
        return None
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    return f"lost contact with another process of the run ({text.split('. ')[0] or type(exc).__name__})"


def all_sum(values, device: torch.device) -> np.ndarray:
    """``values`` (numbers) added up over every process, as float64."""
    t = torch.as_tensor(np.asarray(values, dtype=np.float64), device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return t.cpu().numpy()


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Give every process ``src``'s buffers (BatchNorm statistics), one collective per dtype."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for b in module.buffers():
        by_dtype.setdefault(b.dtype, []).append(b)
    for tensors in by_dtype.values():
        flat = torch.cat([t.detach().reshape(-1) for t in tensors])
        dist.broadcast(flat, src)
        at = 0
        with torch.no_grad():
            for t in tensors:
                t.copy_(flat[at : at + t.numel()].view_as(t))
                at += t.numel()


class DistributedLearner(Learner):
    """A Learner that is one process of a data-parallel run (the process group must be joined)."""

    def __init__(self, dataset, config: TrainConfig, rank: Rank):
        super().__init__(dataset, config)
        self.rank = rank
        self._ddp = None  # the DistributedDataParallel wrapper of the current fit's module
        self._trace = os.environ.get(TRACE_ENV)
        self._log({"event": "start", "pid": os.getpid(), "world": rank.world})

    def _log(self, record: dict) -> None:
        if self._trace:
            with open(os.path.join(self._trace, f"rank{self.rank.rank}.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------ the hooks Learner defines

    def epoch_share(self, n: int) -> int:
        return shard_len(n, self.rank.world)

    def epoch_order(self, n: int, rng: np.random.Generator) -> np.ndarray:
        order = shard(rng.permutation(n), self.rank.rank, self.rank.world)
        self._log({"event": "order", "fit": self.fits, "n": n, "indices": order.tolist()})
        return order

    def begin_validation(self) -> tuple[int, int]:
        broadcast_buffers(self.model)  # every process scores the model rank 0 will save
        return self.rank.rank, self.rank.world

    def end_validation(self, totals: np.ndarray) -> np.ndarray:
        totals = all_sum(totals, self.device)
        self._log({"event": "valid", "fit": self.fits, "totals": totals.tolist()})
        return totals

    # ------------------------------------------------------------ what changes with several processes

    def step(self, module, opt, x, y) -> float:
        if self._ddp is None or self._ddp.module is not module:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DistributedDataParallel(module, device_ids=ids)  # broadcasts rank 0's weights
        loss = super().step(self._ddp, opt, x, y)
        return float(all_sum([loss], self.device)[0]) / self.rank.world

    def _begin_fit(self, stop=None):
        fit = yield from super()._begin_fit(stop)
        if self.rank.rank:  # other dropout masks than rank 0's (rank 0 keeps the one-process seed)
            torch.manual_seed(torch.initial_seed() + 7919 * self.rank.rank)
        return fit

    def _image_batches(self, rng, epoch_seed: int, stop=None):
        # other augmentations than rank 0's; rank 0 draws what one process would
        return super()._image_batches(rng, epoch_seed + 7919 * self.rank.rank, stop)

    def fit(self, stop=None):
        try:
            return (yield from super().fit(stop))
        finally:
            self._ddp = None  # the next fit trains another module

    def prepare(self, stop=None):
        """Job: as Learner.prepare; with precompute, each process first computes its share of the files."""
        if self.config.precompute and "train" not in self.features and self.rank.world > 1:
            yield from self._precompute_share(stop)
        return (yield from super().prepare(stop))

    def _precompute_part(self) -> tuple[int, int]:
        """(k, m): this process computes files k, k + m, … of all the processes' files when they all see
        the same feature cache (one machine, or FOVEA_HOME on a shared file system), else of its machine's."""
        r = self.rank
        if r.world == r.local_world:
            return r.rank, r.world
        token = int(all_sum([np.random.default_rng().integers(1 << 40) if r.is_main else 0], self.device)[0])
        marker = cache_dir("features") / f".fovea-shared-{token}"
        if r.is_main:
            marker.touch()
        all_sum([0.0], self.device)  # written before anyone looks
        seen = all_sum([float(marker.exists())], self.device)[0]  # and looked at before it goes
        if r.is_main:
            marker.unlink(missing_ok=True)
        return (r.rank, r.world) if seen == r.world else (r.local_rank, r.local_world)

    def _precompute_share(self, stop=None):
        k, m = self._precompute_part()
        with torch_threads(compute_threads(self.config.threads)):
            self._ensure_model()
            if self._space is None:
                self._space = feature_space(self.model, self.device)
            for split in ("train", "valid"):
                items = self.dataset.items(split)[k::m]
                fs = yield from precompute_features(
                    self.model, items, split, self.device, stop=stop, workers=self.config.workers, space=self._space
                )
                self._log({"event": "precompute", "split": split, "part": [k, m], "computed": fs.computed})
        all_sum([0.0], self.device)  # wait until every share is on disk
