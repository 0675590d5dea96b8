"""`train --nproc-per-node N`: run the same command in N processes through torchrun, and the command lines
(torchrun, SLURM sbatch) that do it on a cluster. No torch here: the window builds these at start-up.

torchrun (``python -m torch.distributed.run``) starts the processes, connects them (rendezvous) and stops
them all when one fails; engine.distributed is what each process does.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from engine.config import TrainConfig

MAIN = str(Path(__file__).resolve().parents[2] / "main.py")
DEFAULT_PORT = 29500

DATA_PARALLEL_HELP = (
    "Data-parallel training (DistributedDataParallel): N processes each train on their own shard of "
    "every epoch, and their gradients are averaged at every step. --bs is per process: the effective "
    "batch is --bs × processes per node × nodes. The learning rate is not changed for you: N processes "
    "at --bs B take the same steps as one process at --bs N×B, so keep --lr when you split a batch "
    "(1 × 64 → 2 × 32); when you add processes at the same --bs, the effective batch grows N-fold and "
    "the usual rule is to multiply --lr by N (linear scaling; the schedule's warm-up helps). Each "
    "epoch's shuffled order comes from --seed and is split like torch's DistributedSampler: when the "
    "image count does not divide by the process count, the shards are padded with images from the "
    "start of the order (a few images are seen twice that epoch); validation is split without padding "
    "and its sums are added up over all processes. BatchNorm statistics are per process (not "
    "synchronised); the model file gets rank 0's. One process per GPU (NCCL); on a CPU (gloo) each "
    "process gets its share of the cores. Only rank 0 prints and writes the model. Started with "
    "`torchrun main.py train …` directly, the same happens."
)


@dataclass
class Launch:
    """Where the processes of a run are: how many per node, how many nodes, how they meet."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int | None = None  # with master_addr (static rendezvous); torchrun assigns it with an endpoint
    rdzv_endpoint: str | None = None  # HOST:PORT every node can reach (c10d rendezvous)
    master_addr: str | None = None
    master_port: int = DEFAULT_PORT

    def check(self) -> None:
        if self.nproc_per_node < 1 or self.nnodes < 1:
            raise ValueError("--nproc-per-node and --nnodes must be at least 1")
        if self.nnodes > 1 and not (self.rdzv_endpoint or self.master_addr):
            raise ValueError(
                "training on several machines needs --rdzv-endpoint HOST:PORT (a node every machine can "
                "reach), or --master-addr HOST with --node-rank"
            )
        if self.master_addr and self.nnodes > 1 and self.node_rank is None:
            raise ValueError("--master-addr with --nnodes > 1 needs --node-rank (0 on the master node)")


def add_arguments(parser) -> None:
    """The launcher's flags (torchrun's names), in their own --help section."""
    g = parser.add_argument_group("several processes or machines (torchrun)", DATA_PARALLEL_HELP)
    g.add_argument("--nproc-per-node", type=int, metavar="N", help="processes on this machine (one per GPU)")
    g.add_argument("--nnodes", type=int, default=1, metavar="M", help="machines in the run (default 1)")
    g.add_argument("--node-rank", type=int, metavar="K", help="this machine's number, 0 … M-1 (with --master-addr)")
    g.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="where the machines meet (c10d rendezvous)")
    g.add_argument("--master-addr", metavar="HOST", help="the first machine (static rendezvous, with --node-rank)")
    g.add_argument(
        "--master-port",
        type=int,
        default=DEFAULT_PORT,
        metavar="PORT",
        help=f"with --master-addr (default {DEFAULT_PORT})",
    )


# the flags above and whether each takes a value: removed from the command the processes run
_LAUNCH_FLAGS = {
    "--nproc-per-node": True,
    "--nnodes": True,
    "--node-rank": True,
    "--rdzv-endpoint": True,
    "--master-addr": True,
    "--master-port": True,
}


def launch_from_args(args) -> Launch | None:
    """The Launch the parsed flags ask for, or None for a run in this process."""
    if args.nproc_per_node is None:
        return None
    return Launch(
        args.nproc_per_node, args.nnodes, args.node_rank, args.rdzv_endpoint, args.master_addr, args.master_port
    )


def torchrun_args(launch: Launch, run_id: str = "fovea") -> list[str]:
    """torchrun's options for ``launch``: --standalone on one machine, else a rendezvous."""
    launch.check()
    out = ["--nproc-per-node", str(launch.nproc_per_node)]
    if launch.rdzv_endpoint:
        out += ["--nnodes", str(launch.nnodes), "--rdzv-backend", "c10d"]
        return out + ["--rdzv-endpoint", launch.rdzv_endpoint, "--rdzv-id", run_id]
    if launch.master_addr:
        out += ["--nnodes", str(launch.nnodes), "--node-rank", str(launch.node_rank or 0)]
        return out + ["--master-addr", launch.master_addr, "--master-port", str(launch.master_port)]
    return ["--standalone", *out]


def worker_argv(argv: list[str]) -> list[str]:
    """``argv`` without the launcher's flags: what every process runs."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _LAUNCH_FLAGS:
            skip = _LAUNCH_FLAGS[name] and "=" not in arg
            continue
        out.append(arg)
    return out


def launch_command(argv: list[str], launch: Launch) -> list[str]:
    """The command that runs ``main.py ARGV`` (e.g. ``train DATASET … --json``) in ``launch``'s processes."""
    return [sys.executable, "-m", "torch.distributed.run", *torchrun_args(launch), MAIN, *worker_argv(argv)]


def train_command(
    config: TrainConfig, dataset: str, output: str, nproc: int, head_epochs: int | None = None
) -> list[str]:
    """The command that trains ``config`` in ``nproc`` processes on this machine and prints --json lines
    (rank 0's: an object per epoch, then the final one with the model path): what the window runs."""
    return launch_command([*train_flags(config, dataset, output, head_epochs), "--json"], Launch(nproc))


def relaunch(argv: list[str], launch: Launch, output: str | None = None) -> int:
    """Run ``argv`` under torchrun and wait; a clear last line when a process failed."""
    from engine.cli import fail

    try:
        command = launch_command(argv, launch)
    except ValueError as exc:
        return fail(str(exc))
    env = dict(os.environ)
    # each process sets its own torch threads (engine.distributed.worker_config); saying so here also
    # keeps torchrun from printing its OMP_NUM_THREADS banner
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // launch.nproc_per_node)))
    proc = subprocess.Popen(command, env=env)
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl+C reached torchrun too: let it stop its processes
        proc.wait()
        return fail("interrupted", 130)
    if code == 0:
        return 0
    written = output and Path(output).exists()
    return fail(
        f"the run failed (torchrun exit code {code}): a training process failed or was stopped — its "
        f"error and torchrun's report are above; {'the model file is from an earlier run' if written else 'no model file was written'}",
        code if code > 0 else 1,
    )


# ---------------------------------------------------------------- the same run, as text for a cluster

# TrainConfig fields the command line has no flag for, and what they must be to be left out
_NOT_ON_THE_COMMAND_LINE = {
    "label_smoothing": 0.0,
    "bn_freeze": False,
    "depths": (),
    "grid": 0,
    "hidden": 512,
}  # depths, grid, hidden: Auto only
_MACHINE_SPECIFIC = ("threads", "workers")  # each machine picks its own


def train_flags(config: TrainConfig, dataset: str, output: str, head_epochs: int | None = None) -> list[str]:
    """``train DATASET … -o OUTPUT`` for ``config`` (parsed by engine.cli.train, it gives ``config`` back)."""
    for name, plain in _NOT_ON_THE_COMMAND_LINE.items():
        if getattr(config, name) != plain:
            raise ValueError(f"{name.replace('_', ' ')} has no command-line flag: set it back to {plain}")
    d, c = TrainConfig(), config
    out = ["train", str(dataset), "-o", str(output), "--arch", c.arch, "--size", str(c.size), "--bs", str(c.bs)]
    out += ["--lr", f"{c.lr:g}"]
    if c.cycles is None:
        out += ["--epochs", str(c.epochs)]
    else:
        out += ["--cycles", str(c.cycles), "--cycle-len", str(c.cycle_len), "--cycle-mult", str(c.cycle_mult)]
    out += [flag for flag, on in (("--precompute", c.precompute), ("--unfreeze", c.unfreeze), ("--tta", c.tta)) if on]
    if head_epochs is not None:
        out += ["--head-epochs", str(head_epochs)]
    optional = {
        "--schedule": (c.schedule, d.schedule),
        "--aug": (c.aug, "none"),
        "--lr-mult": (",".join(f"{v:g}" for v in c.lr_mult), ",".join(f"{v:g}" for v in d.lr_mult)),
        "--frozen-views": (str(c.frozen_views), str(d.frozen_views)),
        "--opt": (c.opt, d.opt),
        "--wd": (f"{c.wd:g}", f"{d.wd:g}"),
        "--seed": (str(c.seed), str(d.seed)),
        "--weights": (c.weights_file, None),
        "--device": (c.device, None),
    }
    for flag, (value, default) in optional.items():
        if value != default:
            out += [flag, value]
    return out


def _covered() -> set[str]:
    """TrainConfig fields train_flags writes or deliberately leaves out (a test keeps this complete)."""
    written = {"arch", "size", "bs", "lr", "epochs", "cycles", "cycle_len", "cycle_mult", "precompute", "unfreeze"}
    written |= {"tta", "schedule", "aug", "lr_mult", "frozen_views", "opt", "wd", "seed", "weights_file", "device"}
    return written | set(_NOT_ON_THE_COMMAND_LINE) | set(_MACHINE_SPECIFIC)


def cluster_commands(
    config: TrainConfig,
    dataset: str,
    output: str,
    nproc: int,
    nnodes: int = 2,
    head_epochs: int | None = None,
    endpoint: str = f"HEAD_NODE:{DEFAULT_PORT}",
    gpus: bool = True,
) -> tuple[str, str]:
    """(torchrun command line to run on every node, SLURM sbatch script) that train ``config`` on
    ``dataset`` with ``nproc`` processes on each of ``nnodes`` machines. Paths are written as given:
    every node must see the dataset, Fovea and the output folder at those paths."""
    flags = train_flags(replace_device(config, gpus), dataset, output, head_epochs)
    script = shlex.join([MAIN, *flags])
    rdzv = f"--rdzv-backend c10d --rdzv-id fovea --rdzv-endpoint {shlex.quote(endpoint)}"
    line = f"torchrun --nnodes {int(nnodes)} --nproc-per-node {int(nproc)} {rdzv} {script}"
    sbatch = [
        "#!/bin/bash",
        "#SBATCH --job-name=fovea-train",
        f"#SBATCH --nodes={int(nnodes)}",
        "#SBATCH --ntasks-per-node=1",
    ]
    if gpus:
        sbatch.append(f"#SBATCH --gpus-per-node={int(nproc)}")
    sbatch += [
        "set -euo pipefail",
        "# one torchrun per node (it starts that node's processes); activate Fovea's Python environment first",
        'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        f'srun torchrun --nnodes "$SLURM_NNODES" --nproc-per-node {int(nproc)} \\',
        f'    --rdzv-backend c10d --rdzv-id "$SLURM_JOB_ID" --rdzv-endpoint "$head:{DEFAULT_PORT}" \\',
        f"    {script}",
        "",
    ]
    return line, "\n".join(sbatch)


def replace_device(config: TrainConfig, gpus: bool) -> TrainConfig:
    """``config`` without this machine's device choice: the cluster's processes pick theirs (a GPU
    each, or the CPU)."""
    return replace(config, device=None if gpus else "cpu")
