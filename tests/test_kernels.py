"""engine.kernels against an independent plain-loop reference, the lecture's edges, the CLI, and the GUI agreeing with it."""

import subprocess
import sys

import numpy as np
import pytest

from engine.kernel_presets import PRESETS
from engine.kernels import (
    BORDERS,
    MODES,
    KernelError,
    apply_kernel,
    format_kernel,
    parse_kernel,
    to_gray,
)
from tests.conftest import PHOTOS, ROOT
from tests.kernel_reference import rand_image, ref_apply, ref_gray, ref_index, ref_output, ref_response

cv2 = pytest.importorskip("cv2")


# ---------------------------------------------------------------- exactness against the reference


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_matches_reference_in_every_mode_and_border(name):
    rng = np.random.default_rng(sum(name.encode()))
    p = PRESETS[name]
    img = rand_image(rng, 8, 10)
    for border in BORDERS:
        for gray in (False, True):
            v = ref_response(img, p.kernel, p.divisor, 0.0, border, gray)
            for mode in MODES:
                got = apply_kernel(img, p.kernel, divisor=p.divisor, mode=mode, border=border, gray=gray)
                assert got.dtype == np.uint8 and got.shape == v.shape
                np.testing.assert_array_equal(got, ref_output(v, mode), err_msg=f"{name} {border} {mode} {gray}")


def test_random_integer_kernels_any_size_divisor_bias_match_reference():
    rng = np.random.default_rng(1)
    for trial in range(24):
        n = [1, 3, 5, 7][trial % 4]
        k = rng.integers(-6, 7, (n, n)).astype(np.float64)
        divisor = [1, 2, 3, 6, 16, 9, -4, 5][trial % 8]
        bias = [0, 3, -2.5, 0.5, 128, -7][trial % 6]
        border = BORDERS[trial % 3]
        gray = trial % 5 == 0
        img = rand_image(rng, int(rng.integers(2, 9)), int(rng.integers(2, 10)), gray=trial % 7 == 0)
        v = ref_response(img, k, divisor, bias, border, gray)
        for mode in MODES:
            got = apply_kernel(img, k, divisor=divisor, bias=bias, mode=mode, border=border, gray=gray)
            np.testing.assert_array_equal(got, ref_output(v, mode), err_msg=f"trial {trial} {mode}")


def test_dyadic_float_kernels_are_exact_and_other_floats_within_one_level():
    rng = np.random.default_rng(2)
    img = rand_image(rng, 7, 8)
    for border in BORDERS:
        k = rng.integers(-64, 65, (3, 3)) / 32.0  # exact in float32
        v = ref_response(img, k, 1.0, 0.0, border)
        for mode in MODES:
            np.testing.assert_array_equal(apply_kernel(img, k, mode=mode, border=border), ref_output(v, mode))
    k = rng.normal(size=(5, 5))
    for mode in MODES:
        got = apply_kernel(img, k, divisor=3.7, bias=1.3, mode=mode).astype(int)
        want = ref_apply(img, k, 3.7, 1.3, mode).astype(int)
        assert np.abs(got - want).max() <= 1
        assert (got != want).mean() < 0.02


def test_clip_equals_opencv_filter2d_replicate_for_integer_kernels():
    rng = np.random.default_rng(3)
    img = rand_image(rng, 61, 83)
    for n in (3, 5, 7):
        for _ in range(3):
            k = rng.integers(-9, 10, (n, n)).astype(np.float32)
            want = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REPLICATE)
            np.testing.assert_array_equal(apply_kernel(img, k), want)
    for p in PRESETS.values():
        want = cv2.filter2D(img, -1, p.kernel.astype(np.float32) / p.divisor, borderType=cv2.BORDER_REPLICATE)
        np.testing.assert_array_equal(apply_kernel(img, p.kernel, divisor=p.divisor), want)


def test_borders_differ_where_they_should_and_small_images_work():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    k = np.zeros((7, 7))
    k[0, 0] = 1  # reads 3 rows up, 3 columns left
    assert apply_kernel(img, k, border="replicate")[0, 0] == img[0, 0]
    assert apply_kernel(img, k, border="zero")[0, 0] == 0
    assert apply_kernel(img, k, border="reflect")[0, 0] == img[ref_index(-3, 3, "reflect"), ref_index(-3, 4, "reflect")]
    one = np.full((1, 1, 3), 77, np.uint8)
    for border in BORDERS:
        np.testing.assert_array_equal(
            apply_kernel(one, PRESETS["box_blur"].kernel, 9, border=border),
            ref_apply(one, PRESETS["box_blur"].kernel, 9, border=border),
        )


def test_gray_conversion_is_the_documented_bt601_fixed_point():
    rng = np.random.default_rng(4)
    img = rand_image(rng, 20, 30)
    np.testing.assert_array_equal(to_gray(img), ref_gray(img))
    corners = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [1, 1, 1]]], np.uint8)
    np.testing.assert_array_equal(to_gray(corners)[0], [76, 150, 29, 255, 1])


def test_rgb_kernel_sums_the_three_channels():
    rng = np.random.default_rng(5)
    img = rand_image(rng, 6, 7)
    k = rng.integers(-8, 9, (3, 3, 3)) / 8.0
    for border in BORDERS:
        v = ref_response(img, k, 2.0, 1.0, border)
        assert v.ndim == 2
        for mode in MODES:
            np.testing.assert_array_equal(apply_kernel(img, k, 2.0, 1.0, mode, border), ref_output(v, mode))
    with pytest.raises(KernelError, match="grey"):
        apply_kernel(img, k, gray=True)


def test_normalise_stretches_to_full_range_and_constant_gives_zero():
    rng = np.random.default_rng(6)
    out = apply_kernel(rand_image(rng, 10, 10), PRESETS["outline"].kernel, mode="normalise")
    assert out.min() == 0 and out.max() == 255
    flat = np.full((5, 5, 3), 90, np.uint8)
    assert not apply_kernel(flat, PRESETS["top_sobel"].kernel, mode="normalise").any()


# ---------------------------------------------------------------- the lecture's two kernels


def test_lecture_kernels_light_up_exactly_the_step_edge():
    h, w, row, col = 12, 14, 5, 8
    horizontal = np.zeros((h, w), np.uint8)
    horizontal[:row] = 200  # bright above, dark from `row` down
    top = apply_kernel(horizontal, parse_kernel("1 2 1; 0 0 0; -1 -2 -1"))
    assert sorted(set(np.nonzero(top)[0])) == [row - 1, row]  # the two rows either side of the step
    assert (top[[row - 1, row]] == 255).all()  # 4 × 200 clamps to 255
    assert not apply_kernel(horizontal, parse_kernel("-1 0 1; -2 0 2; -1 0 1")).any()

    vertical = np.zeros((h, w), np.uint8)
    vertical[:, col:] = 200  # dark left, bright from `col` on
    right = apply_kernel(vertical, PRESETS["right_sobel"].kernel)
    assert sorted(set(np.nonzero(right)[1])) == [col - 1, col]
    assert (right[:, [col - 1, col]] == 255).all()
    assert not apply_kernel(vertical, PRESETS["top_sobel"].kernel).any()
    # the opposite edge direction only shows with abs
    assert not apply_kernel(255 - vertical, PRESETS["right_sobel"].kernel).any()
    assert sorted(set(np.nonzero(apply_kernel(255 - vertical, PRESETS["right_sobel"].kernel, mode="abs"))[1])) == [
        col - 1,
        col,
    ]


# ---------------------------------------------------------------- kernel text


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1 2 1; 0 0 0; -1 -2 -1", [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
        ("1,2,1\n0,0,0\n-1,-2,-1\n", [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
        ("[[0.5, -1e-1, 0], [1, 1, 1], [.25, 2., -3]]", [[0.5, -0.1, 0], [1, 1, 1], [0.25, 2, -3]]),
        ("7", [[7]]),
    ],
)
def test_parse_kernel_accepts_common_spellings(text, expected):
    np.testing.assert_array_equal(parse_kernel(text), expected)
    np.testing.assert_array_equal(parse_kernel(format_kernel(parse_kernel(text))), expected)


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty"),
        ("1 2; 3 4", "odd"),
        ("1 2 3; 4 5 6", "square"),
        ("1 2 3; 4 5; 6 7 8", "row 2"),
        ("1 2 x; 0 0 0; 1 1 1", "'x' in row 1"),
        ("1 2 1; 0 nan 0; 1 1 1", "'nan'"),
        ("; ".join(["1 " * 9] * 9), "largest"),
    ],
)
def test_parse_kernel_rejects_bad_text_with_a_clear_reason(text, message):
    with pytest.raises(KernelError, match=message):
        parse_kernel(text)


def test_bad_options_raise_clear_errors():
    img = np.zeros((4, 4, 3), np.uint8)
    k = PRESETS["blur"].kernel
    with pytest.raises(KernelError, match="divisor"):
        apply_kernel(img, k, divisor=0)
    with pytest.raises(KernelError, match="mode"):
        apply_kernel(img, k, mode="sqrt")
    with pytest.raises(KernelError, match="border"):
        apply_kernel(img, k, border="wrap")
    with pytest.raises(KernelError, match="shape"):
        apply_kernel(np.zeros((4, 4, 2), np.uint8), k)


# ---------------------------------------------------------------- CLI


def _cli(*args):
    from main import main

    return main(["kernel", *map(str, args)])


def test_cli_round_trip_gives_apply_kernel_pixels(tmp_path, capsys):
    from engine.images import load_rgb

    src = PHOTOS / "chelsea.png"
    img = np.asarray(load_rgb(src))
    out = tmp_path / "edges.png"
    assert _cli(src, "--preset", "blur", "--border", "reflect", "-o", out) == 0
    np.testing.assert_array_equal(
        np.asarray(load_rgb(out)), apply_kernel(img, PRESETS["blur"].kernel, 16, border="reflect")
    )
    out2 = tmp_path / "grey.png"
    assert (
        _cli(
            src,
            "--kernel",
            "-1 0 1; -2 0 2; -1 0 1",
            "--mode",
            "abs",
            "--gray",
            "--divisor",
            "2",
            "--bias",
            "3",
            "-o",
            out2,
        )
        == 0
    )
    from PIL import Image

    with Image.open(out2) as im:
        assert im.mode == "L"
        got = np.asarray(im)
    np.testing.assert_array_equal(got, apply_kernel(img, PRESETS["right_sobel"].kernel, 2, 3, "abs", gray=True))
    assert "grey" in capsys.readouterr().out


def test_cli_bad_input_gives_one_error_line_and_nonzero_exit(tmp_path, capsys):
    src = PHOTOS / "chelsea.png"
    assert _cli(src, "--kernel", "1 2; 3 4", "-o", tmp_path / "x.png") != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "odd" in err[0]
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert _cli(bad, "--preset", "blur", "-o", tmp_path / "y.png") != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.png" in err[0]
    assert _cli(src, "--preset", "nope", "-o", tmp_path / "z.png") != 0
    assert "top_sobel" in capsys.readouterr().err
    assert _cli(src, "--preset", "blur", "-o", tmp_path / "z.nosuchformat") != 0
    assert "format" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_cli_output_makes_its_folders_and_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    src = PHOTOS / "coffee.png"
    nested = tmp_path / "results" / "edges" / "coffee.jpg"  # folders made, like train -o
    assert _cli(src, "--preset", "outline", "-o", nested) == 0
    from PIL import Image

    with Image.open(nested) as im:
        assert im.format == "JPEG"
    # a write that fails half-way leaves neither the file nor a temp file behind
    from PIL import Image as PILImage

    def broken_save(self, fp, format=None, **kw):
        with open(fp, "wb") as f:
            f.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PILImage.Image, "save", broken_save)
    assert _cli(src, "--preset", "blur", "-o", tmp_path / "results" / "full.png") != 0
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["edges"]


def test_a_bias_that_is_not_a_finite_number_is_refused(tmp_path, capsys):
    img = np.zeros((4, 4, 3), np.uint8)
    for bias in (float("nan"), float("inf")):
        with pytest.raises(KernelError, match="bias must be a finite number"):
            apply_kernel(img, PRESETS["blur"].kernel, 16, bias)
    assert _cli(PHOTOS / "chelsea.png", "--preset", "blur", "--bias", "nan", "-o", tmp_path / "k.png") == 2
    assert "bias" in capsys.readouterr().err and not (tmp_path / "k.png").exists()


def test_cli_lists_presets(capsys):
    assert _cli("--list-presets") == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PRESETS) and "1 2 1; 0 0 0; -1 -2 -1" in out


def test_cli_exit_code_in_a_real_process(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "main.py"),
            "kernel",
            str(PHOTOS / "coffee.png"),
            "--kernel",
            "1 2 1; 0 zero 0; -1 -2 -1",
            "-o",
            str(tmp_path / "o.png"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == ["fovea: error: 'zero' in row 2 of the kernel is not a number"]


def test_engine_kernel_modules_import_neither_qt_nor_torch():
    # the Kernels tab imports them at start-up, before the window shows (torch comes later, in jobs)
    code = (
        "import sys, engine.kernels, engine.kernel_presets, engine.kernel_layers, engine.network_filters, "
        "engine.cli.kernel; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'gui', 'torch')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_cli_and_gui_give_identical_pixels(qtbot, tmp_path):
    pytest.importorskip("pytestqt")
    from engine.images import load_rgb
    from gui.app import configure_pyqtgraph
    from gui.kernels.panel import KernelPlayground
    from gui.state import AppState

    configure_pyqtgraph()
    panel = KernelPlayground(AppState())
    qtbot.addWidget(panel)
    controller, kernel_box = panel.controller, panel.view.kernel_controls
    output_box = panel.view.output_controls
    try:
        src = PHOTOS / "coffee.png"
        controller.load_file(src)
        qtbot.waitUntil(lambda: controller.image_name == "coffee.png", timeout=10000)
        # a custom kernel typed into the grid, with divisor, bias, abs, reflect and grey
        for (r, c), v in {(0, 0): -1, (0, 2): 3, (1, 1): 6, (2, 0): 2}.items():
            kernel_box.grid.cells[r][c].setValue(v)
        kernel_box.divisor_spin.setValue(3)
        kernel_box.bias_spin.setValue(10)
        output_box.mode_combo.setCurrentIndex(output_box.mode_combo.findData("abs"))
        output_box.border_combo.setCurrentIndex(output_box.border_combo.findData("reflect"))
        output_box.gray_check.setChecked(True)
        qtbot.waitUntil(
            lambda: (
                controller.shown_result() is not None
                and controller.shown_result().ndim == 2
                and controller.renderer.settled
            ),
            timeout=10000,
        )
        out = tmp_path / "cli.png"
        text = format_kernel(controller.stack.layer.kernel)
        assert text == "-1 2 3; 0 6 0; 2 -2 -1"
        assert (
            _cli(
                src,
                "--kernel",
                text,
                "--divisor",
                "3",
                "--bias",
                "10",
                "--mode",
                "abs",
                "--border",
                "reflect",
                "--gray",
                "-o",
                out,
            )
            == 0
        )
        from PIL import Image

        with Image.open(out) as im:
            np.testing.assert_array_equal(np.asarray(im), controller.shown_result())
        # and a preset with its divisor, in colour
        controller.apply_preset("gaussian_5x5")
        output_box.gray_check.setChecked(False)
        controller.set_mode("clip")
        qtbot.waitUntil(lambda: controller.shown_result().ndim == 3 and controller.renderer.settled)
        assert _cli(src, "--preset", "gaussian_5x5", "--border", "reflect", "-o", out) == 0
        np.testing.assert_array_equal(np.asarray(load_rgb(out)), controller.shown_result())
    finally:
        panel.shutdown()
