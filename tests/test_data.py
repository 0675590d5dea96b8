"""Dataset listing, verification, image decoding and thumbnails on the bad-input zoo."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.data import DatasetError, scan_dataset, split_train_valid, verify_dataset
from engine.images import load_rgb
from engine.jobs import run_to_end
from engine.thumbnails import ThumbnailRequests, make_thumbnail, thumbnail_job
from tests.conftest import ROOT, SAMPLE
from tests.zoo import BAD, GOOD, build_zoo, hash_tree


@pytest.fixture
def zoo(tmp_path):
    return build_zoo(tmp_path / "zoo")


def all_problems(root):
    ds = scan_dataset(root)
    bad = run_to_end(verify_dataset(ds))
    return ds, {str(Path(p.path).relative_to(root)): p.reason for p in ds.problems + bad}


def test_every_bad_input_is_reported_with_its_file_and_reason(zoo):
    ds, problems = all_problems(zoo)
    for rel, fragment in BAD.items():
        assert rel in problems, f"{rel} not reported; got {sorted(problems)}"
        assert fragment.lower() in problems[rel].lower(), f"{rel}: {problems[rel]!r} lacks {fragment!r}"
    assert set(problems) == set(BAD), f"unexpected reports: {set(problems) - set(BAD)}"


def test_unusual_but_valid_inputs_are_listed_and_decode(zoo):
    ds, problems = all_problems(zoo)
    listed = {str(Path(p).relative_to(zoo)) for p in ds.all_paths()}
    for rel in GOOD:
        assert rel in listed, rel
        assert rel not in problems
        im = load_rgb(zoo / rel)
        assert im.mode == "RGB" and im.size[0] >= 1
    assert not any(".DS_Store" in p or "Thumbs.db" in p for p in listed)
    assert ds.classes == ["cat", "dog"]  # an empty train/<class>/ is reported, never a class
    assert {label for _, label in ds.train + ds.valid} == {0, 1}
    assert len(ds.test) == 2


def test_a_dataset_whose_class_folders_are_all_empty_is_an_error(tmp_path):
    for c in ("a", "b"):
        (tmp_path / "train" / c).mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images in its class folders"):
        scan_dataset(tmp_path)


def test_special_images_decode_correctly(zoo):
    rot = np.asarray(load_rgb(zoo / "train/cat/rotated.jpg"))
    assert rot.shape == (40, 20, 3)  # upright: rotated 90°
    assert rot[2, 10, 0] > 200 and rot[2, 10, 2] < 60  # orientation 6: left (red) half ends on top
    assert rot[37, 10, 2] > 200 and rot[37, 10, 0] < 60
    gif = np.asarray(load_rgb(zoo / "train/cat/animated.gif"))
    assert gif[10, 10, 1] > 150 and gif[10, 10, 0] < 50  # first frame is green
    deep = np.asarray(load_rgb(zoo / "train/cat/deep16.png"))
    assert deep.dtype == np.uint8 and deep.max() > 200 and deep.min() < 10
    pal = np.asarray(load_rgb(zoo / "train/cat/palette_alpha.png"))
    assert tuple(pal[4, 4]) == (255, 255, 255)  # transparent → white background
    assert tuple(pal[4, 12]) == (0, 255, 0)
    cmyk = load_rgb(zoo / "train/cat/cmyk.jpg")
    assert cmyk.mode == "RGB" and cmyk.size == (32, 24)
    assert load_rgb(zoo / "train/cat/one_pixel.png").getpixel((0, 0)) == (10, 20, 30)


def test_nothing_is_written_into_the_dataset(zoo, fovea_home):
    before = hash_tree(zoo)
    ds, _ = all_problems(zoo)
    req = ThumbnailRequests()
    req.request(ds.all_paths())
    served = list(run_to_end_records(thumbnail_job(req, idle_exit=True)))
    assert len(served) == len(ds.all_paths())
    assert hash_tree(zoo) == before
    assert any(Path(fovea_home).rglob("*.jpg")), "thumbnails should live in the per-user cache"


def run_to_end_records(gen):
    records = []
    run_to_end(gen, records.append)
    return records


def test_thumbnails_are_cached_and_report_bad_files(zoo):
    good = zoo / "train/dog/d1.jpg"
    first = make_thumbnail(good)
    assert first.exists() and make_thumbnail(good) == first
    with Image.open(first) as im:
        assert max(im.size) == 128  # small images fill the cell
    req = ThumbnailRequests()
    req.request([str(zoo / "train/cat/truncated.jpg"), str(good)])
    records = {Path(r["path"]).name: r for r in run_to_end_records(thumbnail_job(req, idle_exit=True))}
    assert records["truncated.jpg"]["file"] is None and "truncated" in records["truncated.jpg"]["error"]
    assert records["d1.jpg"]["error"] is None


def test_thumbnail_requests_serve_newest_first():
    req = ThumbnailRequests()
    req.request(["a", "b", "c"])
    req.request(["a"])
    assert req.take(3, 0) == ["a", "c", "b"]


@pytest.mark.parametrize(
    "make,fragment",
    [
        (lambda p: p, "does not exist"),
        (lambda p: (p.write_text("x"), p)[1], "is a file"),
        (lambda p: (p.mkdir(), (p / "valid").mkdir(), p)[2], "no train/"),
        (lambda p: (p.mkdir(), (p / "train").mkdir(), p)[2], "no class folders"),
    ],
)
def test_not_a_dataset_raises_a_clear_error(tmp_path, make, fragment):
    path = make(tmp_path / "thing")
    with pytest.raises(DatasetError, match=fragment):
        scan_dataset(path)


def test_automatic_valid_split_is_seeded_and_stratified(tmp_path):
    for c in ("a", "b"):
        d = tmp_path / "ds" / "train" / c
        d.mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (4, 4)).save(d / f"{i}.png")
    ds = scan_dataset(tmp_path / "ds")
    assert ds.valid_is_auto
    assert len(ds.valid) == 4 and len(ds.train) == 16
    assert {label for _, label in ds.valid} == {0, 1}
    assert scan_dataset(tmp_path / "ds").valid == ds.valid
    assert not set(ds.valid) & set(ds.train)
    train, valid = split_train_valid([("x", 0), ("y", 0)], 0.2, 1)
    assert len(valid) == 1 and len(train) == 1


@pytest.mark.parametrize("name", ["val", "validation"])
def test_val_and_validation_folders_are_accepted(tmp_path, name):
    for split in ("train", name):
        d = tmp_path / split / "a"
        d.mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(d / "1.png")
    ds = scan_dataset(tmp_path)
    assert len(ds.valid) == 1 and not ds.valid_is_auto and ds.valid_dirname == name


def test_sample_dataset_is_clean():
    ds = scan_dataset(SAMPLE)
    assert ds.classes == ["ankle_boot", "sneaker"]
    assert ds.counts() == {"ankle_boot": {"train": 100, "valid": 50}, "sneaker": {"train": 100, "valid": 50}}
    assert run_to_end(verify_dataset(ds)) == []


def test_cli_scan_json_reports_problems_and_exits_zero(zoo):
    out = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "scan", str(zoo), "--json"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    reported = {str(Path(p["path"]).relative_to(zoo)) for p in data["problems"]}
    assert reported == set(BAD)
    assert data["counts"]["dog"] == {"train": 3, "valid": 1}


def test_cli_scan_text_and_bad_path(tmp_path):
    ok = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "scan", str(SAMPLE)], capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0 and "ankle_boot" in ok.stdout and "0 problem(s)" in ok.stdout
    f = tmp_path / "file.txt"
    f.write_text("x")
    bad = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "scan", str(f)], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode != 0 and "is a file" in bad.stderr and bad.stderr.count("\n") == 1


def test_engine_never_imports_qt():
    code = (
        "import importlib, pkgutil, sys, engine, engine.cli\n"
        "for pkg in (engine, engine.cli):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'gui', 'shiboken6', 'superqt')]\n"
        "print(len(list(pkgutil.iter_modules(engine.__path__))))\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 5


def test_a_text_file_is_called_disguised_only_when_its_name_says_image(tmp_path):
    from engine.images import ImageError

    for name, want in (
        ("notes.md", "not an image: text file"),
        ("notes.jpg", "not an image: text file saved with an image extension"),
    ):
        (tmp_path / name).write_text("hello")
        with pytest.raises(ImageError) as err:
            load_rgb(tmp_path / name)
        assert str(err.value).endswith(want), str(err.value)


def test_opening_the_train_folder_itself_points_to_its_parent():
    from tests.conftest import SAMPLE

    with pytest.raises(DatasetError, match="open its parent"):
        scan_dataset(SAMPLE / "train")


# ---------------------------------------------------------------- the fast PNG path and the one resampler


def _png_variants(tmp_path: Path) -> dict[str, Path]:
    """Every PNG flavour a dataset may hold, plain or not."""
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    out = {}

    def save(name, im, **kw):
        out[name] = tmp_path / f"{name}.png"
        im.save(out[name], "PNG", **kw)

    save("rgb", Image.fromarray(rgb))
    save("grey", Image.fromarray(rgb[..., 0]))
    save("palette", Image.fromarray(rgb).quantize(64))
    pal_t = Image.fromarray(rgb).quantize(16)
    save("palette_transparent", pal_t, transparency=3)
    save("rgba", Image.fromarray(np.dstack([rgb, rgb[..., 1]]), "RGBA"))
    save("grey_alpha", Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 2]])).convert("LA"))
    save("grey16", Image.fromarray(rgb[..., 0].astype(np.uint16) * 257))
    save("bilevel", Image.fromarray(rgb[..., 0] > 128))
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif_rotated", Image.fromarray(rgb), exif=exif.tobytes())
    return out


def test_fast_png_decode_gives_exactly_what_pil_gives(tmp_path, monkeypatch):
    import engine.images as images

    variants = _png_variants(tmp_path)
    for name, path in variants.items():
        got = images.load_rgb_array(path)
        want = np.asarray(load_rgb(path))
        assert got.dtype == np.uint8 and got.shape == want.shape, name
        assert np.array_equal(got, want), name
    assert images.load_rgb_array(variants["exif_rotated"]).shape == (31, 23, 3)  # upright
    # plain PNGs really take the OpenCV path: with PIL's loader broken they still decode
    plain = {"rgb", "grey", "palette"}
    monkeypatch.setattr(images, "decode_rgb", lambda *a, **k: (_ for _ in ()).throw(AssertionError(a)))
    for name in plain:
        images.load_rgb_array(variants[name])
    for name in set(variants) - plain:  # transparency, 16 bits, 1 bit, EXIF: left to PIL
        with pytest.raises(AssertionError):
            images.load_rgb_array(variants[name])


def test_fast_png_decode_reports_bad_files_like_load_rgb(zoo):
    from engine.images import ImageError, load_rgb_array

    for rel in ("train/cat/truncated.png", "train/cat/corrupt.png", "train/cat/bomb.png"):
        path = zoo / rel
        with pytest.raises(ImageError) as fast:
            load_rgb_array(path)
        with pytest.raises(ImageError) as slow:
            load_rgb(path)
        assert str(fast.value) == str(slow.value), rel


def test_resize_center_crop_shrinks_by_area_and_enlarges_bilinearly():
    from engine.models import center_crop_size, resize_center_crop, resize_center_crop_array

    assert center_crop_size(70, 45, 32) == (50, 32) and center_crop_size(64, 64, 128) == (128, 128)
    # shrinking a 2×2 checkerboard by 2 averages each block: no aliasing into black or white
    board = np.kron(np.indices((32, 48)).sum(0) % 2, np.ones((1, 1)))[..., None].repeat(3, 2)
    small = resize_center_crop_array((board * 255).astype(np.uint8), 8)
    assert small.shape == (8, 8, 3) and 120 <= small.min() and small.max() <= 135
    # enlarging: a horizontal ramp stays a monotone ramp, centre-cropped to a square
    ramp = np.tile(np.linspace(0, 255, 20, dtype=np.uint8)[None, :, None], (10, 1, 3))
    big = resize_center_crop_array(ramp, 30)
    assert big.shape == (30, 30, 3) and np.all(np.diff(big[5, :, 0].astype(int)) >= 0)
    # the PIL wrapper is the same pixels
    pil = np.asarray(resize_center_crop(Image.fromarray(ramp), 30))
    assert np.array_equal(pil, big)
