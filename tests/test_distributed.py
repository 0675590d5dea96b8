"""Data-parallel training: the shards, the launcher's command lines, and real 2-process gloo runs on CPU."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from engine.cli.launch import (
    MAIN,
    Launch,
    _covered,
    cluster_commands,
    launch_command,
    torchrun_args,
    train_command,
    train_flags,
    worker_argv,
)
from engine.cli.train import _config
from engine.config import TrainConfig
from engine.distributed import Rank, shard, shard_len, worker_config
from main import build_parser
from tests.training_data import make_dataset

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- shards


@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 2, 7, 8, 13])
def test_shards_are_distributed_samplers_disjoint_and_covering(n, world):
    order = np.random.default_rng(n).permutation(n) + 100  # any order of any item ids
    parts = [shard(order, r, world) for r in range(world)]
    sampler = [order[list(DistributedSampler(range(n), world, r, shuffle=False))] for r in range(world)]
    for mine, torch_s in zip(parts, sampler, strict=True):
        assert mine.tolist() == torch_s.tolist()  # DistributedSampler's split, exactly
        assert len(mine) == shard_len(n, world)
    seen = np.concatenate(parts)
    assert set(seen.tolist()) == set(order.tolist())  # covering
    padding = shard_len(n, world) * world - n
    assert len(seen) - len(set(seen.tolist())) == padding  # disjoint but for the padding
    if n % world == 0:
        assert padding == 0


def test_a_worker_leaves_with_its_code_and_its_output_flushed():
    code = "import sys; from engine.distributed import exit_worker; print('last line', end=''); "
    code += "sys.stderr.write('err'); exit_worker(3)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (3, "last line", "err")


def test_rank_comes_from_torchrun_and_each_cpu_process_gets_its_share_of_the_cores():
    assert Rank.from_env({}) is None
    r = Rank.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (r.rank, r.world, r.local_rank, r.local_world, r.is_main) == (3, 4, 1, 2, False)
    cfg = worker_config(TrainConfig(device="cpu"), r)
    assert cfg.threads == max(1, __import__("engine.compute").compute.compute_threads() // 2)
    assert worker_config(TrainConfig(device="cpu", threads=5), r).threads == 5  # asked for: kept


def test_each_process_on_a_gpu_machine_gets_its_own_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert worker_config(TrainConfig(), Rank(3, 4, 1, 2)).device == "cuda:1"
    assert worker_config(TrainConfig(device="cuda"), Rank(0, 1, 0, 1)).device == "cuda:0"
    with pytest.raises(ValueError, match="CUDA_VISIBLE_DEVICES"):
        worker_config(TrainConfig(device="cuda:0"), Rank(1, 2, 1, 2))  # both processes on one GPU
    with pytest.raises(ValueError, match="2 GPU"):
        worker_config(TrainConfig(), Rank(2, 3, 2, 3))
    assert worker_config(TrainConfig(device="cpu"), Rank(1, 2, 1, 2)).device == "cpu"  # gloo on the CPU


# ---------------------------------------------------------------- the launcher's command lines


def test_launch_flags_become_torchrun_options_and_leave_the_workers_command():
    assert torchrun_args(Launch(2)) == ["--standalone", "--nproc-per-node", "2"]
    rdzv = torchrun_args(Launch(4, nnodes=2, rdzv_endpoint="head:29400"))
    assert rdzv[rdzv.index("--rdzv-endpoint") + 1] == "head:29400" and rdzv[rdzv.index("--nnodes") + 1] == "2"
    static = torchrun_args(Launch(1, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=1234))
    assert static[static.index("--node-rank") + 1] == "1" and static[static.index("--master-port") + 1] == "1234"
    for bad in (Launch(2, nnodes=2), Launch(0), Launch(1, nnodes=2, master_addr="h")):
        with pytest.raises(ValueError):
            torchrun_args(bad)
    argv = ["train", "d", "--nproc-per-node", "2", "--bs", "32", "--nnodes=1", "--master-port", "5", "-o", "m.pth"]
    assert worker_argv(argv) == ["train", "d", "--bs", "32", "-o", "m.pth"]
    cmd = launch_command(argv, Launch(2))
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"] and cmd[-7:] == [MAIN, *worker_argv(argv)]


CONFIGS = [
    TrainConfig(arch="resnet34", precompute=True, epochs=5, lr=3e-3),
    TrainConfig(
        size=224, bs=32, cycles=3, cycle_len=1, cycle_mult=2, precompute=False, aug="top_down", unfreeze=True,
        lr_mult=(0, 0.3, 1), frozen_views=4, opt="adamw", wd=0.05, tta=True, seed=7, schedule="one_cycle",
        weights_file="/w/r.pth", device="cpu",
    ),
]  # fmt: skip


@pytest.mark.parametrize("config", CONFIGS)
def test_train_flags_give_the_same_config_back(config):
    args = build_parser().parse_args(train_flags(config, "/data/dogs cats", "/out/m.pth", head_epochs=2))
    assert _config(args) == config
    assert (args.dataset, args.output, args.head_epochs) == ("/data/dogs cats", "/out/m.pth", 2)
    assert {f.name for f in fields(TrainConfig)} <= _covered()  # a new setting must be written or ruled out
    with pytest.raises(ValueError, match="label smoothing"):
        train_flags(replace(config, label_smoothing=0.1), "d", "m")


def test_the_windows_command_trains_the_config_in_n_processes_with_json_lines():
    cmd = train_command(CONFIGS[0], "/data/dc", "/out/m.pth", nproc=2, head_epochs=1)
    assert cmd[cmd.index("--nproc-per-node") + 1] == "2" and "--standalone" in cmd
    args = build_parser().parse_args(cmd[cmd.index(MAIN) + 1 :])
    assert _config(args) == CONFIGS[0] and args.json and args.head_epochs == 1


def test_bad_settings_fail_once_before_any_process_starts(tmp_path, capsys):
    from main import main

    t0 = time.perf_counter()
    assert main(["train", str(tmp_path / "nothing"), "-o", "m.pth", "--nproc-per-node", "2"]) == 2
    make_dataset(tmp_path / "data", n_train=2, n_valid=1)
    assert main(["train", str(tmp_path / "data"), "-o", "m.pth", "--nproc-per-node", "2", "--nnodes", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("fovea: error: ") for line in err)
    assert "--rdzv-endpoint" in err[1] and time.perf_counter() - t0 < 5  # no torchrun was started


def test_cluster_commands_run_the_current_settings_on_every_node():
    config = replace(CONFIGS[1], device="cuda:1")
    line, sbatch = cluster_commands(config, "/data/dogs cats", "/out/m.pth", nproc=4, nnodes=2, head_epochs=1)
    words = shlex.split(line)
    assert words[0] == "torchrun" and words[words.index("--nnodes") + 1] == "2"
    assert words[words.index("--nproc-per-node") + 1] == "4" and "--rdzv-endpoint" in words
    worker = build_parser().parse_args(words[words.index(MAIN) + 1 :])
    assert _config(worker) == replace(config, device=None)  # each process picks its own GPU
    assert worker.dataset == "/data/dogs cats"
    assert "#SBATCH --nodes=2" in sbatch and "#SBATCH --gpus-per-node=4" in sbatch
    assert "srun torchrun" in sbatch and shlex.join([MAIN, *words[words.index(MAIN) + 1 :]]) in sbatch
    _, cpu_script = cluster_commands(config, "d", "m", nproc=2, gpus=False)
    assert "--gpus-per-node" not in cpu_script and "--device cpu" in cpu_script


def test_the_launcher_module_does_not_load_torch():
    code = "import sys, engine.cli.launch; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0  # the window imports it at start-up


def test_help_states_the_effective_batch_and_the_learning_rate_rule():
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    flat = " ".join(text.split())
    assert "effective batch is --bs × processes per node × nodes" in flat
    assert "keep --lr when you split a batch" in flat and "multiply --lr by N" in flat
    assert "DistributedSampler" in flat and "padded" in flat


# ---------------------------------------------------------------- real runs: 2 processes, gloo, CPU


def _launch(tmp_path, *flags, trace=None, wait=True, **env):
    env = dict(os.environ, FOVEA_DIST_TRACE=str(trace or ""), PYTHONPATH=str(ROOT), **env)
    cmd = [sys.executable, MAIN, "train", str(tmp_path / "data"), "--arch", "tiny_cnn", "--size", "32"]
    cmd += ["--json", *flags]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _trace(folder: Path, rank: int) -> list[dict]:
    return [json.loads(line) for line in (folder / f"rank{rank}.jsonl").read_text().splitlines()]


def test_two_processes_train_one_model_on_disjoint_shards(tmp_path, fovea_home):
    make_dataset(tmp_path / "data", n_train=16, n_valid=8)  # 32 train, 16 valid images
    trace = tmp_path / "trace"
    trace.mkdir()
    t0 = time.perf_counter()
    flags = ("--bs", "8", "--precompute", "--unfreeze", "--epochs", "2", "--nproc-per-node", "2", "-o", "m.pth")
    code, out, err = _launch(tmp_path, *flags, trace=trace)
    assert code == 0, err
    assert time.perf_counter() - t0 < 60
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r.get("epoch") for r in lines[:-1]] == [1, 2, 3, 4]  # rank 0 alone prints: no line twice
    final = lines[-1]

    from engine.models import load_model

    model = load_model(tmp_path / "m.pth")
    assert model.meta.metrics["accuracy"] == final["accuracy"] and model.meta.classes == ["blue", "red"]
    ranks = [_trace(trace, 0), _trace(trace, 1)]
    assert ranks[0][0]["world"] == 2 and ranks[0][0]["pid"] != ranks[1][0]["pid"]

    # each epoch (2 on the activations, 2 on the images) split into disjoint shards covering the data
    orders = [[r for r in rank if r["event"] == "order"] for rank in ranks]
    assert len(orders[0]) == len(orders[1]) == 4
    for a, b in zip(*orders, strict=True):
        assert a["n"] == b["n"] == 32 and len(a["indices"]) == len(b["indices"]) == 16
        assert not set(a["indices"]) & set(b["indices"]) and set(a["indices"]) | set(b["indices"]) == set(range(32))
    assert orders[0][0]["indices"] != orders[0][1]["indices"]  # reshuffled every epoch

    # validation sums are all-reduced: both processes score the same, and it is what was reported
    valid = [[r["totals"] for r in rank if r["event"] == "valid"] for rank in ranks]
    assert valid[0] == valid[1] and all(t[2] == 16 for t in valid[0])
    assert [t[1] / t[2] for t in valid[0]] == [r["accuracy"] for r in lines[:-1]]

    # sharded precompute: each image's activations computed by one process and stored once
    shares = [[r for r in rank if r["event"] == "precompute"] for rank in ranks]
    assert [sum(r["computed"] for r in s) for s in shares] == [24, 24]
    keys = [k for f in (fovea_home / "cache" / "features").glob("*/*.keys.npy") for k in np.load(f).tolist()]
    assert len(keys) == len(set(keys)) == 48


@pytest.mark.parametrize("shared", [True, False], ids=["shared cache", "a cache per machine"])
def test_two_machines_meet_and_share_the_precompute_when_they_share_the_cache(tmp_path, fovea_home, shared):
    """Two torchrun agents on this host stand in for two machines (static rendezvous, one process each)."""
    make_dataset(tmp_path / "data", n_train=8, n_valid=4)  # 16 train, 8 valid images
    trace = tmp_path / "trace"
    trace.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    nodes = []
    for node in (0, 1):
        home = fovea_home if shared or node == 0 else fovea_home / "node1"
        flags = ("--bs", "4", "--precompute", "--epochs", "1", "-o", f"m{node}.pth", "--nproc-per-node", "1")
        flags += ("--nnodes", "2", "--node-rank", str(node), "--master-addr", "127.0.0.1", "--master-port", port)
        nodes.append(_launch(tmp_path, *flags, trace=trace, wait=False, FOVEA_HOME=str(home)))
    results = [p.communicate(timeout=90) for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], results[0][1] + results[1][1]
    assert (tmp_path / "m0.pth").exists() and not (tmp_path / "m1.pth").exists()  # rank 0 alone writes
    assert results[1][0] == ""  # and prints
    computed = [sum(r["computed"] for r in _trace(trace, k) if r["event"] == "precompute") for k in (0, 1)]
    assert computed == ([12, 12] if shared else [24, 24])  # split across machines only through a shared cache


def test_a_killed_process_fails_the_run_and_leaves_no_model(tmp_path):
    make_dataset(tmp_path / "data", n_train=8, n_valid=4)
    trace = tmp_path / "trace"
    trace.mkdir()
    t0 = time.perf_counter()
    flags = ("--bs", "4", "--unfreeze", "--epochs", "500", "--nproc-per-node", "2", "-o", "out/m.pth")
    proc = _launch(tmp_path, *flags, trace=trace, wait=False)
    try:
        log = trace / "rank1.jsonl"
        while not (log.exists() and log.read_text().count('"order"') >= 2):  # rank 1 is training
            assert proc.poll() is None and time.perf_counter() - t0 < 50, proc.stderr.read()
            time.sleep(0.2)
        os.kill(_trace(trace, 1)[0]["pid"], signal.SIGKILL)
        out, err = proc.communicate(timeout=50)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert err.strip().splitlines()[-1].startswith("fovea: error: the run failed")
    assert "no model file was written" in err
    assert not (tmp_path / "out" / "m.pth").exists()
    assert not [p.name for p in tmp_path.rglob(".fovea-*")]  # no temporary file left half-written
    assert time.perf_counter() - t0 < 60


def test_one_process_under_the_launcher_trains_the_same_model_as_without_it(tmp_path):
    make_dataset(tmp_path / "data", n_train=8, n_valid=4)
    flags = ("--bs", "4", "--unfreeze", "--aug", "side_on", "--epochs", "2")
    from main import main

    assert (
        main(
            [
                "train",
                str(tmp_path / "data"),
                "--arch",
                "tiny_cnn",
                "--size",
                "32",
                *flags,
                "-o",
                str(tmp_path / "a.pth"),
            ]
        )
        == 0
    )
    code, _, err = _launch(tmp_path, *flags, "--nproc-per-node", "1", "-o", "b.pth")
    assert code == 0, err
    a, b = (torch.load(tmp_path / f, weights_only=True)["state_dict"] for f in ("a.pth", "b.pth"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # DDP with one process changes nothing
