"""engine.inference: prediction with the model's own preprocessing, per-file errors, URLs, TTA,
evaluation metrics and gallery selections, Grad-CAM, CSV formats, and the predict CLI."""

import http.server
import io
import json
import subprocess
import sys
import threading
from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from engine import inference as inf
from engine.jobs import Cancelled, run_to_end
from engine.models import FoveaModel, ModelMeta, create_model, make_head, save_model
from tests.conftest import PHOTOS, ROOT, SAMPLE

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


def tiny_model(classes=("ankle_boot", "sneaker"), size=32, seed=0) -> FoveaModel:
    torch.manual_seed(seed)
    body = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU()
    )
    meta = ModelMeta("tiny", list(classes), size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    return FoveaModel(body, make_head(16, len(classes)), meta, 16).eval()


def sample_files(n=4, split="valid"):
    files = sorted((SAMPLE / split / "sneaker").glob("*.png"))[: n // 2]
    files += sorted((SAMPLE / split / "ankle_boot").glob("*.png"))[: n - n // 2]
    return [str(f) for f in files]


@pytest.fixture(scope="module")
def imagenet():
    return inf.imagenet_model()


# ---------------------------------------------------------------- ImageNet model


@pytest.mark.slow
def test_imagenet_model_names_the_cat_and_the_espresso(imagenet):
    pred = run_to_end(inf.predict_images(imagenet, [PHOTOS / "chelsea.png", PHOTOS / "coffee.png"]))
    assert not pred.errors
    assert pred.probs.shape == (2, 1000)
    assert np.allclose(pred.probs.sum(1), 1.0, atol=1e-4)
    labels = [pred.classes[i] for i in pred.predicted]
    assert labels[0] in CAT_CLASSES
    assert labels[1] in {"espresso", "cup", "coffee mug"}
    assert inf.is_imagenet_model(imagenet)
    assert "ImageNet" in inf.describe_model(imagenet)


@pytest.mark.slow
def test_imagenet_wrapper_matches_the_plain_network(imagenet):
    from engine.models import pretrained_network

    net = pretrained_network("efficientnet_lite0").eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(net(x), imagenet(x), atol=1e-4)


@pytest.mark.slow
def test_grad_cam_on_chelsea_has_the_image_shape_and_finds_the_cat(imagenet):
    im = Image.open(PHOTOS / "chelsea.png")
    cam = inf.grad_cam(imagenet, PHOTOS / "chelsea.png")
    assert cam.heatmap.shape == (im.height, im.width)
    assert cam.heatmap.dtype == np.float32
    assert cam.heatmap.max() == pytest.approx(1.0, abs=1e-3) and cam.heatmap.std() > 0.05
    assert cam.class_name in CAT_CLASSES
    left, top, right, bottom = cam.box
    assert (left, top, right, bottom) == (75, 0, 375, 300)  # 451×300 → centre 300×300 crop
    # the model never saw outside the crop; the cat's head is inside it
    assert cam.heatmap[:, : left - 1].max() == 0
    assert cam.heatmap[:, left:right].mean() > 0.1
    # asking about another class gives another map
    other = inf.grad_cam(imagenet, PHOTOS / "chelsea.png", class_index=967)  # espresso
    assert other.class_name == "espresso" and not np.allclose(other.heatmap, cam.heatmap)


@pytest.mark.slow
def test_cli_predict_imagenet_json(capsys, tmp_path):
    import main

    bad = tmp_path / "notes.png"
    bad.write_text("shopping list")
    rc = main.main(
        [
            "predict",
            "--imagenet",
            str(PHOTOS / "chelsea.png"),
            str(bad),
            str(PHOTOS / "coffee.png"),
            "--top",
            "2",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["file"] for p in out["predictions"]] == [str(PHOTOS / "chelsea.png"), str(PHOTOS / "coffee.png")]
    assert out["predictions"][0]["class"] in CAT_CLASSES
    assert len(out["predictions"][0]["top"]) == 2
    assert out["predictions"][1]["class"] in {"espresso", "cup", "coffee mug"}
    assert out["errors"] == [{"file": str(bad), "error": "not an image: text file saved with an image extension"}]
    assert "ImageNet" in out["model"]


# ---------------------------------------------------------------- prediction mechanics (tiny model)


def test_bad_files_are_reported_and_the_rest_classify(tmp_path):
    good = sample_files(4)
    text = tmp_path / "text.png"
    text.write_text("hello")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes((SAMPLE / "test" / "11245.png").read_bytes()[:60])
    sources = [good[0], str(text), good[1], str(tmp_path / "missing.jpg"), good[2], str(truncated), good[3]]
    model = tiny_model()
    records = []
    pred = run_to_end(inf.predict_images(model, sources, bs=3, top=2, thumbnail=24), records.append)
    assert set(pred.errors) == {1, 3, 5}
    assert pred.errors[1] == "not an image: text file saved with an image extension"
    assert pred.errors[3] == "file not found"
    assert "truncated" in pred.errors[5] or "corrupt" in pred.errors[5]
    ok = pred.ok
    assert ok.tolist() == [True, False, True, False, True, False, True]
    assert np.isfinite(pred.probs[ok]).all() and np.isnan(pred.probs[~ok]).all()
    # streamed in input order, every file exactly once, with progress counts
    results = [r for rec in records for r in rec["results"]]
    assert [r["index"] for r in results] == list(range(7))
    assert records[-1]["done"] == records[-1]["total"] == 7
    assert len(records[0]["results"]) == 1  # the first result comes alone, at once
    for r in results:
        if r["error"]:
            assert r["label"] is None and r["top"] == []
        else:
            assert r["label"] in model.meta.classes and len(r["top"]) == 2 and r["ms"] > 0
            assert r["thumbnail"].dtype == np.uint8 and max(r["thumbnail"].shape[:2]) <= 24
            assert r["top"][0][1] == pytest.approx(pred.probs[r["index"]].max())


def test_model_preprocessing_exif_rgb_and_resize(tmp_path):
    """A file with EXIF orientation 6, a grey PIL image and an RGBA array all go through the same pipeline."""
    model = tiny_model(size=48)
    base = Image.open(
        SAMPLE / "valid" / "sneaker" / sorted(p.name for p in (SAMPLE / "valid" / "sneaker").iterdir())[0]
    )
    base = base.convert("RGB").resize((80, 60))
    upright = np.asarray(base)
    # stored sideways with "rotate 90° clockwise to view" in its EXIF → loaded upright
    stored = base.transpose(Image.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=100, exif=exif.tobytes())
    from engine.images import load_rgb

    path = tmp_path / "_exif_tmp.jpg"
    path.write_bytes(buf.getvalue())
    assert load_rgb(path).size == (80, 60)
    grey = base.convert("L")
    rgba = np.dstack([upright, np.full(upright.shape[:2], 255, np.uint8)])
    pred = run_to_end(inf.predict_images(model, [str(path), base, grey, rgba]))
    assert not pred.errors
    # the EXIF-rotated JPEG predicts like the upright original (up to JPEG loss); a 90° turn would not
    expected = _manual_probs(model, upright)
    assert np.allclose(pred.probs[1], expected, atol=1e-5)
    assert np.allclose(pred.probs[3], expected, atol=1e-5)  # RGBA array, opaque
    assert np.abs(pred.probs[0] - expected).max() < 0.05
    assert pred.names == ["_exif_tmp.jpg", "pasted image", "pasted image", "pasted image"]


def _manual_probs(model, rgb: np.ndarray, size=None):
    from engine.models import resize_center_crop, to_tensor

    size = size or model.meta.image_size
    crop = resize_center_crop(Image.fromarray(rgb), size)
    with torch.no_grad():
        return torch.softmax(model(to_tensor([crop], model.meta.mean, model.meta.std)), 1)[0].numpy()


def test_tta_averages_the_documented_views():
    model = tiny_model(size=32)
    im = Image.open(SAMPLE / "test" / "11245.png").convert("RGB").resize((50, 40))
    views = inf.tta_views(im, 32)
    assert len(views) == len(inf.TTA_VIEWS) == 6
    assert all(v.size == (32, 32) for v in views)
    assert np.array_equal(np.asarray(views[1]), np.asarray(views[0])[:, ::-1])
    assert len({np.asarray(v).tobytes() for v in views}) == 6
    from engine.models import to_tensor

    with torch.no_grad():
        manual = torch.softmax(model(to_tensor(views, model.meta.mean, model.meta.std)), 1).mean(0).numpy()
    with_tta = run_to_end(inf.predict_images(model, [im], tta=True))
    without = run_to_end(inf.predict_images(model, [im], tta=False))
    assert np.allclose(with_tta.probs[0], manual, atol=1e-5)
    assert not np.allclose(with_tta.probs[0], without.probs[0], atol=1e-6)
    assert with_tta.tta and not without.tta


def test_urls_download_and_offline_is_a_clear_per_item_message(tmp_path):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(PHOTOS))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        png = (PHOTOS / "coffee.png").read_bytes()
        import base64

        data_url = "data:image/png;base64," + base64.b64encode(png).decode()
        sources = [
            f"http://127.0.0.1:{port}/coffee.png",
            "http://127.0.0.1:9/nothing-listens-here.jpg",
            data_url,
            f"http://127.0.0.1:{port}/missing.jpg",
            (PHOTOS / "coffee.png").as_uri(),
        ]
        model = tiny_model()
        records = []
        pred = run_to_end(inf.predict_images(model, sources), records.append)
    finally:
        server.shutdown()
        server.server_close()
    assert set(pred.errors) == {1, 3}
    assert "could not download" in pred.errors[1] and "offline" in pred.errors[1]
    assert "HTTP 404" in pred.errors[3]
    # the downloaded copy, the data: URL and the file:// URL are the same picture
    assert np.allclose(pred.probs[0], pred.probs[2]) and np.allclose(pred.probs[0], pred.probs[4])
    results = [r for rec in records for r in rec["results"]]
    assert results[0]["name"] == "coffee.png" and results[0]["path"].startswith(str(inf.cache_dir("downloads")))


def test_predict_sources_expands_folders_and_stop_cancels(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, f in enumerate(sample_files(4)):
        (folder / f"{i}.png").write_bytes(open(f, "rb").read())
    (folder / "readme.txt").write_text("not an image")
    model = tiny_model()
    model.train()
    records = []
    pred = run_to_end(inf.predict_sources(model, [str(folder)], bs=2), records.append)
    expected = [str(folder / f"{i}.png") for i in range(4)]
    assert records[0] == {
        "type": "sources",
        "names": ["0.png", "1.png", "2.png", "3.png"],
        "sources": expected,
        "items": expected,
    }
    assert pred.probs.shape == (4, 2) and not pred.errors
    assert model.training, "predict must restore the caller's training mode"
    stop = threading.Event()
    gen = inf.predict_images(model, sample_files(8) * 4, bs=2, stop=stop)
    next(gen)
    stop.set()
    with pytest.raises(Cancelled):
        next(gen)
    assert model.training


# ---------------------------------------------------------------- evaluation (pure)


def hand_built_evaluation():
    classes = ["cat", "dog", "fox"]
    paths = [f"/v/{i}.png" for i in range(8)]
    labels = [0, 0, 0, 1, 1, 1, 2, 2]
    probs = [
        [0.9, 0.05, 0.05],  # 0 cat ✓ sure
        [0.6, 0.3, 0.1],  # 1 cat ✓ less sure
        [0.2, 0.7, 0.1],  # 2 cat → dog ✗
        [0.1, 0.8, 0.1],  # 3 dog ✓
        [0.45, 0.55, 0.0],  # 4 dog ✓ barely
        [0.95, 0.05, 0.0],  # 5 dog → cat ✗ very wrong
        [0.1, 0.1, 0.8],  # 6 fox ✓
        [0.4, 0.5, 0.1],
    ]  # 7 fox → dog ✗
    return inf.make_evaluation(classes, paths, labels, probs)


def test_metrics_of_a_hand_built_case():
    ev = hand_built_evaluation()
    assert ev.accuracy == pytest.approx(5 / 8)
    assert ev.confusion.tolist() == [[2, 1, 0], [1, 2, 0], [0, 1, 1]]
    assert ev.precision.tolist() == pytest.approx([2 / 3, 2 / 4, 1.0])
    assert ev.recall.tolist() == pytest.approx([2 / 3, 2 / 3, 1 / 2])
    expected_loss = -np.mean(np.log([0.9, 0.6, 0.2, 0.8, 0.55, 0.05, 0.8, 0.1]))
    assert ev.loss == pytest.approx(expected_loss, rel=1e-5)
    assert "62.5%" in ev.summary()


def test_confusion_cell_gallery_holds_exactly_those_files():
    ev = hand_built_evaluation()
    assert [ev.paths[i] for i in ev.cell(0, 1)] == ["/v/2.png"]  # cats called dogs
    assert [ev.paths[i] for i in ev.cell(1, 0)] == ["/v/5.png"]  # dogs called cats
    assert [ev.paths[i] for i in ev.cell(2, 1)] == ["/v/7.png"]
    assert [ev.paths[i] for i in ev.cell(1, 1)] == ["/v/3.png", "/v/4.png"]
    assert ev.cell(0, 2) == []
    misclassified = sorted(i for t in range(3) for p in range(3) if t != p for i in ev.cell(t, p))
    assert misclassified == [2, 5, 7]
    assert sum(len(ev.cell(t, p)) for t in range(3) for p in range(3)) == 8


def test_most_correct_incorrect_uncertain_per_class():
    ev = hand_built_evaluation()
    assert ev.most_correct(0) == [0, 1]  # most confident cat first
    assert ev.most_incorrect(0) == [2]
    assert ev.most_incorrect(1) == [5]
    assert ev.most_correct(1) == [3, 4]
    assert ev.most_uncertain(1) == [4, 3, 5]  # margins .10, .70, .90
    assert ev.most_uncertain(0, k=1) == [1]  # |.6-.3| < |.2-.7| < |.9-.05|
    assert ev.top_losses(3) == [5, 7, 2]


def test_evaluate_job_matches_predictions_and_skips_unreadable(tmp_path):
    model = tiny_model()
    files = sample_files(6)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    items = [(f, 1 if "sneaker" in f else 0) for f in files] + [(str(bad), 0)]
    records = []
    ev = run_to_end(inf.evaluate(model, items, tta=False), records.append)
    assert records[-1] == {"type": "evaluate", "done": 7, "total": 7}
    assert ev.errors == {str(bad): "empty file (0 bytes)"}
    assert ev.paths == files and len(ev.labels) == 6
    pred = run_to_end(inf.predict_images(model, files))
    assert np.allclose(ev.probs, pred.probs, atol=1e-6)
    assert ev.accuracy == pytest.approx(float((pred.probs.argmax(1) == ev.labels).mean()))
    assert ev.confusion.sum() == 6


def test_cpu_predictions_and_grad_cam_run_a_cached_folded_copy_that_follows_weight_changes():
    from engine.models import to_tensor

    torch.manual_seed(3)
    body = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
    )
    for bn in (body[1], body[4]):  # statistics that make folding change the weights
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    meta = ModelMeta("tiny", ["a", "b", "c"], 32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    model = FoveaModel(body, make_head(16, 3), meta, 16).eval()
    images = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(5)]

    def expected():
        with torch.no_grad():
            return torch.softmax(model(to_tensor(images, meta.mean, meta.std)), 1).numpy()

    cpu = torch.device("cpu")
    first = run_to_end(inf.predict_images(model, images, device=cpu))
    assert np.allclose(first.probs, expected(), atol=1e-5)
    net = inf._inference_net(model, cpu)
    assert net is not model and inf._inference_net(model, cpu) is net  # made once, then reused
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())  # folded
    assert all(p.is_contiguous() for p in model.parameters())  # the model itself untouched
    with torch.no_grad():
        model.head[-1].bias[0] += 4.0  # "training" in place
    second = run_to_end(inf.predict_images(model, images, device=cpu))
    assert inf._inference_net(model, cpu) is not net  # rebuilt for the new weights
    assert np.allclose(second.probs, expected(), atol=1e-5)
    assert (second.probs[:, 0] > first.probs[:, 0]).all()
    cam = inf.grad_cam(model, images[0], device=cpu)  # Grad-CAM uses the copy too
    assert cam.prob == pytest.approx(float(expected()[0].max()), abs=1e-4)
    assert all(p.is_contiguous() and p.grad is None for p in model.parameters())


# ---------------------------------------------------------------- Grad-CAM (tiny and plain backbones)


def test_grad_cam_tiny_model_shape_not_constant_and_no_param_grads():
    model = tiny_model(size=32)
    for p in model.parameters():
        p.requires_grad_(True)
    rng = np.random.default_rng(0)
    img = (rng.random((45, 70, 3)) * 255).astype(np.uint8)
    img[10:30, 30:50] = 255
    cam = inf.grad_cam(model, img)
    assert cam.heatmap.shape == (45, 70)
    # normalised to a peak of 1 on the feature map; resampling onto the image may fall between samples
    assert cam.heatmap.std() > 0 and 0.95 < cam.heatmap.max() <= 1.0
    assert all(p.grad is None for p in model.parameters())
    assert cam.box == (13, 0, 57, 45)  # 70×45 → 50×32 → centre 32×32 from x=9, scaled back by 1.4
    overlay = inf.overlay_heatmap(img, cam.heatmap)
    assert overlay.shape == img.shape and overlay.dtype == np.uint8 and not np.array_equal(overlay, img)


def test_grad_cam_plain_resnet_backbone():
    import torchvision

    net = torchvision.models.resnet18(weights=None).eval()
    img = (np.random.default_rng(1).random((64, 96, 3)) * 255).astype(np.uint8)
    cam = inf.grad_cam(net, img, size=64)
    assert cam.heatmap.shape == (64, 96) and cam.heatmap.std() > 0
    assert 0 <= cam.class_index < 1000


# ---------------------------------------------------------------- CSV formats and the CLI


def test_prediction_csv_exact():
    pred = inf.Predictions(
        ["cat", "dog"],
        ["/t/a.jpg", "/t/b.jpg", "/t/c.jpg"],
        np.array([[0.25, 0.75], [np.nan, np.nan], [0.9, 0.1]], np.float32),
        {1: "file not found"},
        ["a.jpg", "b.jpg", "c.jpg"],
    )
    out = io.StringIO()
    inf.write_predictions_csv(inf.prediction_rows(pred), out)
    assert out.getvalue() == "file,class,probability\n/t/a.jpg,dog,0.750000\n/t/c.jpg,cat,0.900000\n"


def test_kaggle_csv_exact(tmp_path):
    pred = inf.Predictions(
        ["cats", "dogs"],
        ["/t/10.jpg", "/t/2.jpg", "/t/1.jpg", "/t/3.jpg"],
        np.array([[0.2, 0.8], [0.99, 0.01], [0.5, 0.5], [np.nan, np.nan]], np.float32),
        {3: "corrupt"},
        ["10.jpg", "2.jpg", "1.jpg", "3.jpg"],
    )
    path = tmp_path / "submission.csv"
    inf.write_kaggle_csv(inf.kaggle_from_predictions(pred), path)
    assert path.read_text() == "id,label\n1,0.500000\n2,0.010000\n3,0.500000\n10,0.800000\n"
    assert inf.kaggle_from_predictions(pred, fill_unreadable=None)[-1] == ("10", pytest.approx(0.8))
    with pytest.raises(ValueError, match="dog"):
        inf.dog_class_index(["sneaker", "ankle_boot"])
    assert inf.dog_class_index(["Cat", "Dog"]) == 1


def test_cli_kaggle_folder_with_a_saved_model(tmp_path, capsys):
    import main

    model = create_model("tiny_cnn", ["cats", "dogs"], image_size=32)
    model_path = save_model(model, tmp_path / "catsdogs.fovea")
    folder = tmp_path / "test"
    folder.mkdir()
    for name, src in zip(["10", "2", "1"], sample_files(3, "train"), strict=False):
        (folder / f"{name}.png").write_bytes(open(src, "rb").read())
    (folder / "7.png").write_text("broken")
    out = tmp_path / "sub.csv"
    rc = main.main(["predict", str(model_path), "--folder", str(folder), "--csv", str(out), "--kaggle"])
    assert rc == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "id,label" and [line.split(",")[0] for line in lines[1:]] == ["1", "2", "7", "10"]
    assert lines[3] == "7,0.500000"
    assert all(0 <= float(line.split(",")[1]) <= 1 for line in lines[1:])
    err = capsys.readouterr().err
    assert "7.png: not an image" in err
    # plain CSV and the model-without-dog error
    rc = main.main(["predict", str(model_path), "--folder", str(folder), "--csv", str(tmp_path / "p.csv")])
    assert rc == 0
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "file,class,probability" and len(rows) == 4
    sneaker = save_model(create_model("tiny_cnn", ["ankle_boot", "sneaker"], 32), tmp_path / "shoes.fovea")
    assert main.main(["predict", str(sneaker), "--folder", str(folder), "--kaggle"]) != 0
    assert "dog" in capsys.readouterr().err


def test_cli_exit_codes(tmp_path, capsys):
    import main

    bad = tmp_path / "x.png"
    bad.write_text("no")
    model_path = save_model(tiny_saved_model(), tmp_path / "m.fovea")
    assert main.main(["predict", str(model_path), str(bad)]) == 1  # nothing predicted
    assert main.main(["predict", str(tmp_path / "nope.fovea"), str(bad)]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main.main(["predict", str(model_path), str(bad), "--top", "0"]) == 2
    assert "--top must be from 1" in capsys.readouterr().err
    readme = ROOT / "README.md"  # not a model: one short line
    assert main.main(["predict", str(readme), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "is not a Fovea model file" in err and len(err.strip().splitlines()) == 1
    assert main.main(["predict", str(model_path), str(bad), sample_files(1)[0]]) == 0
    out = capsys.readouterr()
    assert "x.png: not an image" in out.err
    assert ("sneaker" in out.out) or ("ankle_boot" in out.out)
    good = sample_files(1)[0]
    assert main.main(["predict", str(model_path), good, "--bs", "0"]) == 2
    assert "--bs must be from 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse: exit 2, one error line
        main.main(["predict", str(model_path), good, "--device", "foo"])
    assert exit_info.value.code == 2 and "unknown device 'foo'" in capsys.readouterr().err
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert main.main(["predict", str(model_path), good, "--csv", str(folder)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main.main(["predict", str(model_path), good, "--csv", str(tmp_path / "new" / "p.csv")]) == 0
    assert (tmp_path / "new" / "p.csv").read_text().count("\n") == 2  # header + one row


def tiny_saved_model():
    return create_model("tiny_cnn", ["ankle_boot", "sneaker"], image_size=32)


def test_engine_inference_does_not_import_qt():
    code = (
        "import sys, engine.inference, engine.cli.predict; "
        "print(any(m.startswith(('PySide6', 'pyqtgraph', 'gui')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_copy_model_job_is_independent_equal_and_keeps_what_it_is():
    model = create_model("tiny_cnn", ["cats", "dogs"], image_size=32)
    model.meta.run = {"run": 3, "epoch": 2}
    for p in list(model.parameters())[:2]:
        p.requires_grad_(False)
    copy = run_to_end(inf.copy_model_job(model))
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(copy(x), model(x))
    assert [p.requires_grad for p in copy.parameters()] == [p.requires_grad for p in model.parameters()]
    assert not any(a.data_ptr() == b.data_ptr() for a, b in zip(copy.parameters(), model.parameters(), strict=True))
    with torch.no_grad():  # later training changes the original only
        next(model.parameters()).add_(1.0)
    model.meta.run["epoch"] = 5
    assert not torch.equal(next(copy.parameters()), next(model.parameters()))
    assert copy.meta.run == {"run": 3, "epoch": 2} and copy.meta.classes == ["cats", "dogs"]
    assert not copy.training
