"""Screenshots of the Classify tab: docs/classify.png and docs/evaluation.png.

    QT_QPA_PLATFORM=offscreen python docs/shot_classify.py [--dark]

--dark writes docs/classify_dark.png and docs/evaluation_dark.png under gui.theme.dark_palette().
Both at 1366×768, on a run store of their own (a temporary FOVEA_HOME).

classify.png: the pretrained ImageNet model on resources/photos (cat and espresso), Grad-CAM on.
evaluation.png: a model trained for a few seconds on resources/sample, evaluated on valid/,
with the "most incorrect" gallery and Grad-CAM on one of its mistakes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("FOVEA_HOME", tempfile.mkdtemp(prefix="fovea-shot-"))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.data import scan_dataset  # noqa: E402
from engine.jobs import run_to_end  # noqa: E402
from gui.app import make_app  # noqa: E402
from gui.classify import ClassifyPanel  # noqa: E402
from gui.state import AppState  # noqa: E402

PHOTOS = ROOT / "resources" / "photos"
SAMPLE = ROOT / "resources" / "sample"
SIZE = (1366, 768)


def wait_for(app, condition, timeout=120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("screenshot state not reached")
        app.processEvents()
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()


def train_sample_model(dataset):
    """A quick model for the sample: the training engine when present, else a head fitted here."""
    try:
        from engine.config import TrainConfig
        from engine.training import Learner
    except ImportError:
        Learner = None
    if Learner is not None:
        learner = Learner(dataset, TrainConfig(size=128, epochs=3, lr=1e-2))
        result = run_to_end(learner.fit())
        print(f"trained with engine.training: accuracy {result['accuracy']:.3f}")
        return learner.model
    import torch

    from engine.images import load_rgb
    from engine.models import create_model, resize_center_crop, to_tensor

    model = create_model("efficientnet_lite0", dataset.classes, image_size=128)
    xs = to_tensor([resize_center_crop(load_rgb(p), 128) for p, _ in dataset.train], model.meta.mean, model.meta.std)
    ys = torch.tensor([y for _, y in dataset.train])
    with torch.no_grad():
        feats = model.body.eval()(xs)
    opt = torch.optim.Adam(model.head.parameters(), 1e-3)
    model.head.train()
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model.head(feats), ys)
        loss.backward()
        opt.step()
    model.meta.dataset = dataset.root.name
    return model.eval()


def main() -> int:
    dark = "--dark" in sys.argv[1:]
    app = make_app()
    if dark:
        from gui.theme import dark_palette

        app.setPalette(dark_palette())
    out = ROOT / "docs"
    suffix = "_dark" if dark else ""

    # ---- classify.png: ImageNet predictions with Grad-CAM
    state = AppState()
    panel = ClassifyPanel(state)
    panel.resize(*SIZE)
    panel.show()  # showing the tab starts loading the ImageNet network; drop once it is ready
    wait_for(app, lambda: panel.current_model() is not None)
    panel.classify([str(PHOTOS / "chelsea.png"), str(PHOTOS / "coffee.png")])
    wait_for(
        app,
        lambda: (
            not panel.predicting
            and panel.view.drop.results.count() == 2
            and all(r.get("top") for r in panel.result_records())
        ),
    )
    panel.view.drop.results.setCurrentRow(0)
    panel.view.drop.detail.cam.setChecked(True)
    wait_for(
        app,
        lambda: panel.view.drop.detail.showing_overlay() and not panel.running,
    )
    panel.grab().save(str(out / f"classify{suffix}.png"))
    print(f"wrote docs/classify{suffix}.png:", [r["top"][0] for r in panel.result_records()])
    panel.shutdown()

    # ---- evaluation.png: after a quick training on the sample
    dataset = scan_dataset(SAMPLE)
    model = train_sample_model(dataset)
    state2 = AppState()
    state2.set_dataset(dataset)
    panel2 = ClassifyPanel(state2)
    panel2.resize(*SIZE)
    panel2.show()
    state2.set_model(model)
    wait_for(app, lambda: panel2.current_entry().kind == "trained")
    panel2.view.tabs.setCurrentIndex(2)
    panel2.evaluate.start()
    wait_for(app, lambda: panel2.evaluate.evaluation is not None and not panel2.evaluate.running)
    ev = panel2.evaluate.evaluation
    wrong = sorted(
        (
            (int(ev.confusion[i, j]), i, j)
            for i in range(len(ev.classes))
            for j in range(len(ev.classes))
            if i != j and ev.confusion[i, j]
        ),
        reverse=True,
    )
    if wrong:  # the cell with the most mistakes
        panel2.view.evaluate.metrics.matrix.setCurrentCell(wrong[0][1], wrong[0][2])
        panel2.evaluate.show_cell(wrong[0][1], wrong[0][2])
    wait_for(app, lambda: not panel2.evaluate.thumbs.running)
    if panel2.view.evaluate.gallery.gallery.count():
        panel2.view.evaluate.gallery.gallery.setCurrentRow(0)
        panel2.view.evaluate.detail.cam.setChecked(True)
        wait_for(app, lambda: panel2.view.evaluate.detail.showing_overlay())
    wait_for(app, lambda: not panel2.running)
    panel2.grab().save(str(out / f"evaluation{suffix}.png"))
    print(f"wrote docs/evaluation{suffix}.png: {ev.summary()}")
    panel2.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
