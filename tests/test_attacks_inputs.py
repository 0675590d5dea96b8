"""Attacks through inputs: huge or special files, odd names, symlink loops, absurd counts, and the
messages each gets (issue 16: items 6 (images, counts), 7, 8, 12, 15)."""

import os
import tracemalloc

import pytest

from tests.attack_kit import assert_one_line_error, assert_usage_error, make_fifo, run_cli, text, tiny_model_file
from tests.conftest import SAMPLE
from tests.training_data import COLOURS, make_dataset, write_image

IMAGE = next((SAMPLE / "test").iterdir())
# a desktop's UTF-8 locale: strict encoding on the console (C.UTF-8 alone gets surrogateescape)
UTF8 = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8:strict", "PYTHONUTF8": "0"}


def test_attack_huge_file_behind_a_png_signature_is_not_read_whole(tmp_path):
    """Item 6: a 100 MB (sparse) file that begins like a small PNG: refused after its header."""
    from engine.images import ImageError, load_rgb_array

    real = IMAGE.read_bytes()
    path = tmp_path / "huge.png"
    with open(path, "wb") as f:
        f.write(real)
        f.truncate(100 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ImageError) as err:
            load_rgb_array(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"{peak / 1e6:.0f} MB read for a small image"
    assert "larger" in str(err.value) or "too large" in str(err.value)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--epochs", "2000000000"], "epochs"),
        (["--cycles", "100000", "--cycle-mult", "10"], "cycles"),
        (["--cycles", "40", "--cycle-mult", "10"], "epochs"),
        (["--bs", "100000000"], "batch size"),
        (["--size", "100000"], "image size"),
        (["--seed", str(2**70)], "seed"),
        (["--wd", "nan"], "weight decay"),
        (["--lr-mult", "nan"], "LR multipliers"),
        (["--lr-mult", "-1,1,1"], "LR multipliers"),
    ],
)
def test_attack_absurd_training_settings_get_one_line_at_once(tmp_path, args, needle):
    """Items 6 and 15: counts past their limit and NaNs: one line naming the setting, before any work."""
    out = run_cli("train", SAMPLE, "--arch", "tiny_cnn", *args, "-o", tmp_path / "m.pth", timeout=60)
    if "--lr-mult" in args:  # a value the parser checks: its usage, then the rule's own line
        assert "expected one argument" not in assert_usage_error(out, needle)
    else:
        assert_one_line_error(out, needle)


def test_attack_lr_find_iterations_have_a_limit():
    """Item 6: an LR test of more iterations than the limit is refused before anything is allocated."""
    from engine.config import MAX_LR_FIND_ITERS
    from engine.lr_curves import lr_schedule

    with pytest.raises(ValueError, match="iterations"):
        lr_schedule(1e-7, 10, MAX_LR_FIND_ITERS + 1)
    out = run_cli("lr-find", SAMPLE, "--size", "32", "--iters", "100000", timeout=60)
    assert_one_line_error(out, "iterations")


def test_attack_predict_batch_size_has_a_limit(tmp_path):
    """Item 6: `predict --bs 10**9` is one line."""
    out = run_cli("predict", tiny_model_file(tmp_path / "m.pth"), IMAGE, "--bs", str(10**9), timeout=60)
    assert_one_line_error(out, "--bs")


def _odd_name_folder(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9-\xff.png")  # Latin-1 bytes: not valid UTF-8
    (folder / name).write_bytes(IMAGE.read_bytes())
    return folder, name


def test_attack_non_utf8_names_in_predict_csv_and_output(tmp_path):
    """Item 7: file names that are not UTF-8: `predict --csv` writes the raw bytes, `predict` prints them."""
    folder, name = _odd_name_folder(tmp_path)
    model = tiny_model_file(tmp_path / "m.pth", ("ankle_boot", "sneaker"))
    csv = tmp_path / "p.csv"
    out = run_cli("predict", model, "--folder", folder, "--csv", csv, env=UTF8)
    assert out.returncode == 0 and b"Traceback" not in out.stderr, text(out.stderr)
    assert os.fsencode(name) in csv.read_bytes()
    out = run_cli("predict", model, os.fsencode(folder / name), env=UTF8)
    assert out.returncode == 0 and os.fsencode(name) in out.stdout, text(out.stderr)


def test_attack_non_utf8_names_in_scan_and_kernel(tmp_path):
    """Item 7: `scan` and `kernel` with names that are not UTF-8 finish normally under a UTF-8 locale."""
    ds = make_dataset(tmp_path / "ds", 3, 1)
    bad = os.fsdecode(b"\xff\xfe.png")
    write_image(ds / "train" / "blue" / bad, COLOURS["blue"], seed=5)
    (ds / "train" / "blue" / os.fsdecode(b"\xfe-not-image.txt")).write_text("x")
    out = run_cli("scan", ds, env=UTF8)
    assert out.returncode == 0 and b"Traceback" not in out.stderr, text(out.stderr)
    target = os.fsencode(tmp_path / os.fsdecode(b"r\xe9sultat.png"))
    out = run_cli("kernel", os.fsencode(ds / "train" / "blue" / bad), "--preset", "blur", "-o", target, env=UTF8)
    assert out.returncode == 0 and b"Traceback" not in out.stderr, text(out.stderr)
    assert os.path.exists(target)


def test_attack_symlink_loop_in_a_predict_folder_is_reported(tmp_path):
    """Item 8: `predict --folder` with a symlink loop among the images: that file reported, the rest predicted."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "good.png").write_bytes(IMAGE.read_bytes())
    (folder / "loop.png").symlink_to(folder / "loop.png")
    out = run_cli("predict", tiny_model_file(tmp_path / "m.pth"), "--folder", folder, timeout=120)
    err = text(out.stderr)
    assert out.returncode == 0 and "Traceback" not in err, err
    assert "loop.png: symlink loop" in err and "good.png" in text(out.stdout)


def test_attack_fifo_given_as_an_input_image_never_hangs(tmp_path):
    """Item 12: a FIFO as `predict`'s and `kernel`'s input: reported as not a regular file, no hang."""
    fifo = make_fifo(tmp_path / "in.png")
    out = run_cli("predict", tiny_model_file(tmp_path / "m.pth"), fifo, IMAGE, timeout=60)
    assert out.returncode == 0 and "not a regular file" in text(out.stderr), text(out.stderr)
    out = run_cli("kernel", fifo, "--preset", "blur", "-o", tmp_path / "out.png", timeout=60)
    assert_one_line_error(out, "not a regular file")


def test_attack_fifo_inside_a_folder_and_a_dataset(tmp_path):
    """Item 12: FIFOs among a folder's images and a dataset's files are skipped as "not a regular file"."""
    from engine.data import scan_dataset

    ds = make_dataset(tmp_path / "ds", 3, 1)
    make_fifo(ds / "train" / "red" / "pipe.png")
    problems = {os.path.basename(p.path): p.reason for p in scan_dataset(ds).problems}
    assert problems.get("pipe.png") == "not a regular file"
    folder = tmp_path / "imgs"
    folder.mkdir()
    make_fifo(folder / "pipe.png")
    (folder / "good.png").write_bytes(IMAGE.read_bytes())
    out = run_cli("predict", tiny_model_file(tmp_path / "m.pth"), "--folder", folder, timeout=60)
    assert out.returncode == 0 and "pipe.png: skipped: a FIFO" in text(out.stderr), text(out.stderr)


def test_attack_unreadable_files_are_listed_when_training_on_images(tmp_path):
    """Item 15: `train` without --precompute lists the files it could not use (was `"skipped": []`)."""
    import json

    ds = make_dataset(tmp_path / "ds", 4, 2)
    bad = ds / "train" / "red" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    out = run_cli(
        "train",
        ds,
        "--arch",
        "tiny_cnn",
        "--size",
        "32",
        "--bs",
        "4",
        "--epochs",
        "1",
        "--json",
        "-o",
        tmp_path / "m.pth",
    )
    assert out.returncode == 0, text(out.stderr)
    final = json.loads(out.stdout.splitlines()[-1])
    assert final["skipped"] == [str(bad)]
