"""Attacks on what Fovea writes: special files and symlinks at output paths, interrupted and failed
writes, full disks (issue 16: items 2, 10, 11, 13, 15 (`-o ''`, install-desktop))."""

import os
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.attack_kit import assert_one_line_error, make_fifo, run_cli, text, tiny_model_file
from tests.conftest import ROOT, SAMPLE

IMAGE = next((SAMPLE / "test").iterdir())


def _png(path, value=0):
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)
    return path


def test_attack_kernel_output_on_a_fifo_is_refused_before_work(tmp_path):
    """Item 2: `kernel -o FIFO` is refused in one line and the FIFO stays a FIFO."""
    fifo = make_fifo(tmp_path / "out.png")
    out = run_cli("kernel", IMAGE, "--preset", "blur", "-o", fifo, timeout=60)
    assert_one_line_error(out, "FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_attack_output_symlink_to_a_device_never_replaces_the_device(tmp_path):
    """Item 2: `-o link` where link → /dev/null: refused; the link and the device stay as they were."""
    link = tmp_path / "out.png"
    link.symlink_to("/dev/null")
    out = run_cli("kernel", IMAGE, "--preset", "blur", "-o", link, timeout=60)
    assert_one_line_error(out, "device")
    assert os.path.islink(link) and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_attack_output_on_a_socket_is_refused(tmp_path):
    """Item 2: `-o SOCKET` is refused in one line."""
    path = tmp_path / "s.png"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        out = run_cli("kernel", IMAGE, "--preset", "blur", "-o", path, timeout=60)
    finally:
        sock.close()
    assert_one_line_error(out, "socket")


def test_attack_output_symlink_is_followed_and_kept(tmp_path):
    """Item 2: `-o link` where link → real.png: real.png gets the result, the link stays a link."""
    real = _png(tmp_path / "real.png", 7)
    link = tmp_path / "link.png"
    link.symlink_to(real)
    out = run_cli("kernel", IMAGE, "--preset", "identity", "-o", link, timeout=60)
    assert out.returncode == 0, text(out.stderr)
    assert os.path.islink(link) and os.readlink(link) == str(real)
    assert Image.open(real).size == Image.open(IMAGE).size  # the target holds the new result


def test_attack_predict_csv_on_a_fifo_and_train_output_on_a_fifo(tmp_path):
    """Item 2: `predict --csv FIFO` and `train -o FIFO` are refused before any work."""
    model = tiny_model_file(tmp_path / "m.pth")
    fifo = make_fifo(tmp_path / "p.csv")
    out = run_cli("predict", model, IMAGE, "--csv", fifo, timeout=60)
    assert_one_line_error(out, "--csv", "FIFO")
    assert out.stdout == b""  # nothing was predicted
    fifo2 = make_fifo(tmp_path / "m2.pth")
    out = run_cli("train", SAMPLE, "--arch", "tiny_cnn", "--size", "32", "--epochs", "1", "-o", fifo2, timeout=60)
    assert_one_line_error(out, "-o", "FIFO")
    assert b"epoch" not in out.stdout


def test_attack_lr_find_plot_on_a_fifo_is_refused_before_work(tmp_path):
    """Item 2: `lr-find --plot FIFO` is refused before the test runs."""
    fifo = make_fifo(tmp_path / "plot.png")
    out = run_cli("lr-find", SAMPLE, "--size", "32", "--iters", "5", "--plot", fifo, timeout=60)
    assert_one_line_error(out, "--plot", "FIFO")


def test_attack_lr_find_plot_survives_a_full_disk(tmp_path, monkeypatch):
    """Item 10: a write that fails half-way (disk full) leaves the existing plot whole."""
    from PIL import Image as PILImage

    from engine.cli.lr_find import draw_plot

    plot = tmp_path / "plot.png"
    _png(plot, 200)
    before = plot.read_bytes()

    def save_half_then_fail(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PILImage.Image, "save", save_half_then_fail)
    result = {"lrs": [1e-4, 1e-3, 1e-2], "losses": [1.0, 0.8, 2.0], "smoothed": [1.0, 0.9, 1.2], "suggestions": {}}
    with pytest.raises(OSError):
        draw_plot(result, plot)
    assert plot.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]  # no temporary file left either


def test_attack_full_disk_for_the_feature_cache_is_found_before_precompute(tmp_path, monkeypatch):
    """Item 11: no room in the cache folder: one error naming it and the space, before any image is read."""
    import engine.paths
    from engine.data import scan_dataset
    from engine.features import precompute_features
    from engine.jobs import run_to_end
    from engine.models import create_model
    from tests.training_data import make_dataset

    ds = scan_dataset(make_dataset(tmp_path / "ds", 6, 2))
    model = create_model("tiny_cnn", ds.classes, 32)
    monkeypatch.setattr(
        engine.paths.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000, "total": 1, "used": 1})
    )
    decoded = []
    monkeypatch.setattr("engine.features.read_image_file", lambda p: decoded.append(p) or open(p, "rb").read())
    with pytest.raises(OSError) as err:
        run_to_end(precompute_features(model, ds.train, "train", bs=4))
    assert (
        "not enough free space" in str(err.value) and "features" in str(err.value) and "needs about" in str(err.value)
    )
    assert decoded == []


def test_attack_full_disk_at_output_is_found_before_training(tmp_path, monkeypatch, capsys):
    """Item 11: no room where `-o` writes: refused before training, naming the folder."""
    import engine.paths
    from main import main

    monkeypatch.setattr(
        engine.paths.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000, "total": 1, "used": 1})
    )
    code = main(
        ["train", str(SAMPLE), "--arch", "tiny_cnn", "--size", "32", "--epochs", "1", "-o", str(tmp_path / "m.pth")]
    )
    captured = capsys.readouterr()
    assert code == 2 and "not enough free space in" in captured.err and str(tmp_path) in captured.err
    assert "epoch" not in captured.out


def test_attack_full_disk_while_saving_the_model_is_one_clear_line(tmp_path):
    """Item 11: the model write itself fails (file size limit, as on a full disk): one line, no C++ text."""
    out = run_cli(
        "train", SAMPLE, "--arch", "tiny_cnn", "--size", "32", "--epochs", "1", "-o", tmp_path / "m.pth", fsize=64 << 10
    )
    # the run store sits on the same full disk: its one warning comes first, then the one error line
    err = text(out.stderr)
    lines = err.splitlines()
    assert out.returncode == 2 and "Traceback" not in err and "enforce fail" not in err, err[-2000:]
    assert all(line.startswith("fovea: warning: ") for line in lines[:-1]) and len(lines) <= 2, err
    assert lines[-1].startswith("fovea: error: ") and "m.pth" in lines[-1] and "disk is full" in lines[-1]
    assert not (tmp_path / "m.pth").exists()


def test_attack_temp_files_of_a_killed_write_are_removed_next_time(tmp_path):
    """Item 13: kill -9 in the middle of a write leaves a temp file; the next write there removes it."""
    from engine.kernels import save_result

    code = (
        "import os, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from engine.paths import atomic_file\n"
        f"with atomic_file({str(tmp_path / 'a.png')!r}) as tmp:\n"
        "    open(tmp, 'wb').write(b'x' * 100000)\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", code], timeout=60)
    assert any(p.name.startswith(".") for p in tmp_path.iterdir())  # what kill -9 leaves
    save_result(np.zeros((4, 4, 3), np.uint8), tmp_path / "b.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png"]


def test_attack_temp_files_of_a_killed_cache_write_are_removed_next_run(tmp_path):
    """Item 13: kill -9 while a feature shard is written; the next precompute leaves no temp file."""
    from engine.paths import cache_dir

    code = (
        "import os, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import numpy as np\n"
        "real = np.save\n"
        "def dying_save(f, arr, *a, **k):\n"
        "    real(f, arr[: len(arr) // 2], *a, **k)\n"
        "    f.flush()\n"
        "    os.kill(os.getpid(), 9)\n"
        "np.save = dying_save\n"
        "from engine.data import scan_dataset\n"
        "from engine.features import precompute_features\n"
        "from engine.jobs import run_to_end\n"
        "from engine.models import create_model\n"
        f"ds = scan_dataset({str(SAMPLE)!r})\n"
        "model = create_model('tiny_cnn', ds.classes, 32)\n"
        "run_to_end(precompute_features(model, ds.train[:20], 'train', bs=8))\n"
    )
    subprocess.run([sys.executable, "-c", code], timeout=300, env={**os.environ})
    hidden = lambda: [p for p in cache_dir("features").rglob(".*") if p.is_file()]  # noqa: E731
    assert hidden(), "the killed run should have left a temp file"
    from engine.data import scan_dataset
    from engine.features import precompute_features
    from engine.jobs import run_to_end
    from engine.models import create_model

    ds = scan_dataset(SAMPLE)
    fs = run_to_end(precompute_features(create_model("tiny_cnn", ds.classes, 32), ds.train[:20], "train", bs=8))
    assert len(fs) == 20 and hidden() == []


def test_attack_empty_output_name_is_refused_before_training(tmp_path):
    """Item 15: `train -o ''` fails at once (not after training)."""
    out = run_cli("train", SAMPLE, "--arch", "tiny_cnn", "--size", "32", "--epochs", "1", "-o", "", timeout=60)
    assert_one_line_error(out, "-o")
    assert b"epoch" not in out.stdout


def test_attack_install_desktop_into_an_unwritable_place_is_one_line(tmp_path):
    """Item 15: `install-desktop --dir` where no folder can be made: one line, no traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = run_cli(
        "install-desktop", "--dir", blocker / "apps", timeout=60, env={"XDG_DATA_HOME": str(tmp_path / "xdg")}
    )
    assert_one_line_error(out, "menu entry")
