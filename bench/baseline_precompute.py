"""The 40-line baseline Auto is measured against: precompute, then 30 AdamW epochs on the same head.

python bench/baseline_precompute.py DATASET   (prints validation accuracy and seconds)
"""

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.data import scan_dataset  # noqa: E402
from engine.features import precompute_features  # noqa: E402
from engine.jobs import run_to_end  # noqa: E402
from engine.models import create_model  # noqa: E402


def baseline(dataset, arch="efficientnet_lite0", size=128, epochs=30, lr=1e-3, bs=64, seed=0):
    """A model whose head trained ``epochs`` AdamW epochs on the frozen body's cached activations."""
    torch.manual_seed(seed)
    model = create_model(arch, dataset.classes, size).eval()
    train = run_to_end(precompute_features(model, dataset.train, "train"))
    head = model.head[1:]
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-2)
    for _ in range(epochs):
        head.train()
        for idx in torch.randperm(len(train)).split(bs):
            if len(idx) < 2:
                continue
            loss = F.cross_entropy(head(train.x[idx]), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


if __name__ == "__main__":
    ds = scan_dataset(sys.argv[1])
    t0 = time.perf_counter()
    m = baseline(ds)
    seconds = time.perf_counter() - t0
    valid = run_to_end(precompute_features(m, ds.valid, "valid"))
    with torch.no_grad():
        acc = (m.head[1:](valid.x).argmax(1) == valid.y).float().mean().item()
    print(f"valid accuracy {acc:.2%}, {seconds:.1f} s")
