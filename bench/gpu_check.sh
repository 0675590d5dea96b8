#!/usr/bin/env bash
# GPU check for Fovea's training engine: about 5 minutes on one CUDA GPU.
#
#   bash bench/gpu_check.sh            # on a CUDA machine (fails if CUDA is missing)
#   bash bench/gpu_check.sh --cpu      # smoke test of the same script on CPU (small sizes)
#
# Runs the CUDA path (AMP bf16/fp16 + channels_last) on synthetic and sample data and checks:
#   1. precompute and training on resources/sample reach >= 85 % (chance 50 %) and the loss falls;
#   2. CUDA results match CPU fp32 within tolerance (features, predictions);
#   3. img/s: precompute vs the body's pure forward, training vs a bare train step;
#   4. the run of 1. through the launcher (torchrun, one DDP process) reaches the same accuracy.
# Exit code 0 when every check passes; each line says PASS/FAIL with the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec "$PY" - "$@" <<'PYEOF'
import os
import sys
import tempfile
import time

os.environ["FOVEA_HOME"] = tempfile.mkdtemp(prefix="fovea-gpu-check-")
sys.path.insert(0, os.getcwd())
cpu_only = "--cpu" in sys.argv[1:]
try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as exc:
    sys.exit(f"gpu_check: {exc}: install the project first (pip install -e .)")

from dataclasses import replace

from PIL import Image

from engine.data import scan_dataset
from engine.features import autocast_dtype, fast_inference_copy, pooled_features
from engine.jobs import run_to_end
from engine.models import create_model, device_name
from engine.paths import sample_dataset_dir
from engine.training import Learner, TrainConfig

if not cpu_only and not torch.cuda.is_available():
    sys.exit("gpu_check: CUDA is not available (use --cpu for a smoke test)")
dev = torch.device("cpu" if cpu_only else "cuda")
amp = autocast_dtype(dev)
N_SYNTH = 256 if cpu_only else 4096
BS = 32 if cpu_only else 128
REPEATS = 2 if cpu_only else 10
failures = []


def check(name, ok, detail):
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)
    if not ok:
        failures.append(name)


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def rate(fn, n, repeats=REPEATS):
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return n / float(np.median(times))


print(f"device: {device_name(dev)}, autocast {amp}, torch {torch.__version__}", flush=True)
t_start = time.perf_counter()

# ---------------------------------------------------------------- 1. sample data, CUDA path
sample = scan_dataset(sample_dataset_dir())
cfg = TrainConfig(arch="efficientnet_lite0", size=128, bs=64, epochs=3, precompute=True,
                  device=dev.type, seed=0)
learner = Learner(sample, cfg)
res = run_to_end(learner.fit())
p = next(learner.model.parameters())
check("model on device, channels_last", p.device.type == dev.type and
      learner.model.body[0].weight.is_contiguous(memory_format=torch.channels_last), f"{p.device}, {p.dtype}")
check("precompute + head on sample", res["accuracy"] >= 0.85, f"accuracy {res['accuracy']:.1%} (chance 50 %)")
learner.config = replace(cfg, precompute=False, unfreeze=True, aug="side_on", opt="adamw", lr=5e-4, wd=0.1,
                         lr_mult=(0.1, 1.0, 1.0), epochs=4, schedule="one_cycle")
losses = []
res2 = run_to_end(learner.fit(), lambda r: losses.append(r["loss"]) if r["type"] == "batch" else None)
first, last = np.mean(losses[:3]), np.mean(losses[-3:])
check("unfrozen + augmented training (AMP)", res2["accuracy"] >= 0.85 and np.isfinite(losses).all(),
      f"accuracy {res2['accuracy']:.1%}, batch loss {first:.3f} → {last:.3f}")
h = res2["history"]
check("train loss falls", h[-1]["train_loss"] < h[0]["train_loss"],
      "epochs " + ", ".join(f"{e['train_loss']:.3f}" for e in h))

# ---------------------------------------------------------------- 2. CUDA vs CPU fp32
model = learner.model.eval()
cpu_model = create_model("efficientnet_lite0", sample.classes, 128).eval()
cpu_model.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
from engine.features import images_to_input, load_resized
arrays = [load_resized(path, 128) for path, _ in sample.valid[:64]]
x_cpu = images_to_input(arrays, cpu_model.meta.mean, cpu_model.meta.std, torch.device("cpu"))
x_dev = images_to_input(arrays, model.meta.mean, model.meta.std, dev, channels_last=True)
with torch.inference_mode():
    f_cpu = pooled_features(cpu_model.body, x_cpu)
    f_dev = pooled_features(model.body, x_dev, amp).cpu()
    with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
        p_dev = model(x_dev).float().softmax(1).cpu()
    p_cpu = cpu_model(x_cpu).softmax(1)
cos = F.cosine_similarity(f_cpu, f_dev, dim=1).min().item()
check("features match CPU fp32", cos > 0.99, f"min cosine similarity {cos:.5f}")
agree = (p_cpu.argmax(1) == p_dev.argmax(1)).float().mean().item()
dp = (p_cpu - p_dev).abs().max().item()
check("predictions match CPU fp32", agree >= 0.98 and dp < 0.1, f"argmax agreement {agree:.1%}, max |Δp| {dp:.4f}")

# ---------------------------------------------------------------- 3. throughput on synthetic data
root = tempfile.mkdtemp(prefix="fovea-gpu-synth-")
rng = np.random.default_rng(0)
classes = ("a", "b")
for split, n in (("train", N_SYNTH), ("valid", N_SYNTH // 8)):
    for i in range(n):
        c = classes[i % 2]
        os.makedirs(f"{root}/{split}/{c}", exist_ok=True)
        img = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
        img[:, :, i % 2] //= 2                      # a learnable colour cue
        Image.fromarray(img).save(f"{root}/{split}/{c}/{i:05d}.png", compress_level=1)
synth = scan_dataset(root)
n_pre = len(synth.train) + len(synth.valid)

body_model = create_model("efficientnet_lite0", list(classes), 128).to(dev).eval()
fast = fast_inference_copy(body_model.body, dev, 64)
xb = torch.randn(BS, 3, 128, 128, device=dev).contiguous(memory_format=torch.channels_last)
with torch.inference_mode():
    pure = rate(lambda: pooled_features(fast, xb, amp), BS)

stamps = []
pre = Learner(synth, TrainConfig(size=128, bs=BS, epochs=1, precompute=True, device=dev.type))
run_to_end(pre.prepare(), lambda r: stamps.append(time.perf_counter()))
pre_rate = n_pre / (stamps[-1] - stamps[0])
check("precompute throughput", pre_rate >= 0.5 * pure,
      f"{pre_rate:.0f} img/s = {pre_rate / pure:.0%} of the body's pure forward ({pure:.0f} img/s)")

train_model = create_model("efficientnet_lite0", list(classes), 128).to(dev).to(memory_format=torch.channels_last)
train_model.unfreeze()
train_model.train()
opt = torch.optim.AdamW(train_model.parameters(), lr=1e-4)
yb = torch.randint(0, 2, (BS,), device=dev)
scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None


def step():
    with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
        loss = F.cross_entropy(train_model(xb), yb)
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()


bare = rate(step, BS)
fit_learner = Learner(synth, TrainConfig(size=128, bs=BS, epochs=2, precompute=False, unfreeze=True,
                                         lr_mult=(1.0, 1.0, 1.0), opt="adamw", lr=1e-4, aug="side_on",
                                         device=dev.type))
recs = []
run_to_end(fit_learner.fit(), lambda r: recs.append((time.perf_counter(), r)))
# second epoch only (decoded images are cached in RAM after the first, as in every later epoch)
epoch2 = [t for t, r in recs if r["type"] == "batch" and r["epoch"] > 1.0]
span = epoch2[-1] - epoch2[0] if len(epoch2) > 1 else float("nan")
train_rate = (len(epoch2) - 1) * BS / span if len(epoch2) > 1 else float("nan")
check("training throughput (unfrozen, augmented)", train_rate >= 0.5 * bare,
      f"{train_rate:.0f} img/s = {train_rate / bare:.0%} of a bare AMP train step ({bare:.0f} img/s)")

# ---------------------------------------------------------------- 4. the same run through the launcher
# main.py train --nproc-per-node 1 re-runs itself under torchrun: one DDP process (NCCL on CUDA, gloo on
# CPU) must give the figure section 1 gave without the launcher (same seed, same cached features)
import json
import subprocess

out_model = os.path.join(os.environ["FOVEA_HOME"], "launched.pth")
cmd = [sys.executable, "main.py", "train", str(sample_dataset_dir()), "--arch", "efficientnet_lite0", "--size", "128",
       "--bs", "64", "--epochs", "3", "--precompute", "--seed", "0", "--device", dev.type, "--json",
       "--nproc-per-node", "1", "-o", out_model]
t = time.perf_counter()
run = subprocess.run(cmd, capture_output=True, text=True)
lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
launched = lines[-1]["accuracy"] if run.returncode == 0 and lines else float("nan")
tolerance = 0.0 if dev.type == "cpu" else 0.02  # GPU kernels are not bit-reproducible
check("launcher, world size 1 (torchrun + DDP)", abs(launched - res["accuracy"]) <= tolerance,
      f"accuracy {launched:.1%} vs {res['accuracy']:.1%} without the launcher, {time.perf_counter() - t:.0f} s"
      + (f"; {(run.stderr.strip().splitlines() or [''])[-1]}" if run.returncode else ""))

print(f"total {time.perf_counter() - t_start:.0f} s; {len(failures)} check(s) failed"
      + (f": {', '.join(failures)}" if failures else ""), flush=True)
sys.exit(1 if failures else 0)
PYEOF
