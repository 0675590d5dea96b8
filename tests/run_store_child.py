"""A training process for the run-store tests (killed, run twice at once, restarted).

python tests/run_store_child.py DATASET EPOCHS BATCH_SLEEP  (FOVEA_HOME from the environment)
prints one JSON line when the run starts and one per finished epoch, with the probabilities the
in-memory model gives ``probe()`` at that epoch and a digest of its weights; ``current`` prints the
current model's instead. Probabilities agree to float rounding only (threads, memory layout differ);
the digests must be equal.
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("FOVEA_OFFLINE", "1")

import torch  # noqa: E402

SIZE = 32


def probe() -> torch.Tensor:
    return torch.rand(6, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5)) * 4 - 2


def probabilities(model) -> list[list[float]]:
    was = model.training
    model.eval()
    with torch.no_grad():
        out = torch.softmax(model(probe().to(next(model.parameters()).device)).float(), dim=1).cpu()
    model.train(was)
    return out.tolist()


def weights_digest(model) -> str:
    """A hash of every weight and buffer, bit for bit (memory layout and device aside)."""
    import hashlib

    h = hashlib.sha1()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def train(dataset: str, epochs: int, batch_sleep: float) -> None:
    from engine.config import TrainConfig
    from engine.data import scan_dataset
    from engine.jobs import run_to_end
    from engine.run_training import train_run
    from engine.runs import RunStore
    from engine.training import Learner

    config = TrainConfig(
        arch="tiny_cnn", size=SIZE, bs=8, lr=0.02, epochs=epochs, precompute=False, device="cpu", workers=1, threads=1
    )
    learner = Learner(scan_dataset(dataset), config)

    def on_progress(rec):
        if rec["type"] == "run":
            print(json.dumps({"run": rec["run"], "start": time.time()}), flush=True)
        elif rec["type"] == "batch":
            time.sleep(batch_sleep)
        elif rec["type"] == "epoch":
            line = {"epoch": rec["epoch"], "probs": probabilities(learner.model), "accuracy": rec["accuracy"]}
            line["digest"] = weights_digest(learner.model)
            print(json.dumps(line), flush=True)

    result = run_to_end(train_run(learner, RunStore()), on_progress)
    print(json.dumps({"done": result["run"], "end": time.time()}), flush=True)


def current() -> None:
    from engine.model_choice import current_model, load_current_model
    from engine.runs import RunStore

    store = RunStore()
    model = load_current_model(store)
    out = {"ref": current_model(store), "probs": probabilities(model), "digest": weights_digest(model)}
    print(json.dumps({**out, "problems": store.problems}))


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "current":
        current()
    else:
        train(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
