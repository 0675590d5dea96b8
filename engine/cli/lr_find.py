"""`fovea lr-find DATASET`: the learning-rate range test, its suggestions, and an optional PNG plot."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from engine.cli import device_arg, fail
from engine.lr_curves import (
    DEFAULT_END,
    DEFAULT_ITERS,
    DEFAULT_START,
    DEFAULT_SUGGESTION,
    MODES,
    SUGGESTION_COLORS,
    SUGGESTION_LABELS,
    format_lr,
    loss_view_range,
)
from engine.paths import atomic_file, check_output_path


def register(sub) -> None:
    from engine.config import ARCHITECTURES, TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "lr-find",
        help="run the learning-rate finder and print suggested learning rates",
        description="Train briefly while the learning rate grows from --start to --end and "
        "report the loss at each step. Pick an LR where the loss is still clearly "
        "falling; the model itself is left unchanged.",
    )
    p.add_argument("dataset", help="dataset folder with train/<class>/ and valid/<class>/")
    p.add_argument("--arch", choices=ARCHITECTURES, default=d.arch, help=f"backbone (default {d.arch})")
    p.add_argument("--size", type=int, default=d.size, help=f"input image size in pixels (default {d.size})")
    p.add_argument("--bs", type=int, default=d.bs, help=f"batch size (default {d.bs})")
    p.add_argument(
        "--precompute",
        action=argparse.BooleanOptionalAction,
        default=d.precompute,
        help="train the head on cached activations (fast; default on)",
    )
    p.add_argument(
        "--unfreeze", action="store_true", help="test the whole network with per-layer-group LRs (slow on CPU)"
    )
    p.add_argument("--start", type=float, default=DEFAULT_START, help=f"first LR (default {DEFAULT_START:g})")
    p.add_argument("--end", type=float, default=DEFAULT_END, help=f"last LR (default {DEFAULT_END:g})")
    p.add_argument("--iters", type=int, default=DEFAULT_ITERS, help=f"iterations (default {DEFAULT_ITERS})")
    p.add_argument("--mode", choices=MODES, default="exp", help="LR growth: exp (default) or linear")
    p.add_argument("--weights", help="pretrained weights file (.pth) for the backbone")
    p.add_argument("--device", type=device_arg, help="cpu, cuda, cuda:1 … (default: CUDA if present)")
    p.add_argument("--json", action="store_true", help="print one JSON object: lrs, losses, suggestions")
    p.add_argument("--plot", metavar="OUT.png", help="also draw the loss-vs-LR curve into a PNG file")
    p.set_defaults(run=run)


def _checked(args):
    """(config, dataset) after every check that needs no work; ValueError or DatasetError."""
    from engine.config import TrainConfig
    from engine.data import scan_dataset
    from engine.lr_curves import lr_schedule

    config = TrainConfig(
        arch=args.arch,
        size=args.size,
        bs=args.bs,
        precompute=args.precompute,
        unfreeze=args.unfreeze,
        weights_file=args.weights,
        device=args.device,
    )
    lr_schedule(args.start, args.end, args.iters, args.mode)
    config.check()
    if args.plot is not None:
        check_output_path(args.plot, "--plot")
        if Path(args.plot).suffix.lower() != ".png":
            raise ValueError(f"--plot writes a PNG file; give a name ending in .png (got {args.plot})")
    return config, scan_dataset(args.dataset)


def _progress(show: bool):
    def progress(rec: dict) -> None:
        if not show:
            return
        if rec.get("type") == "precompute":
            print(
                f"\rcaching activations ({rec.get('split', '')}) {rec['done']}/{rec['total']}   ",
                end="",
                file=sys.stderr,
            )
        elif rec.get("type") == "lr_find":
            print(
                f"\rLR test {rec['iteration'] + 1}/{rec['total']}  lr {format_lr(rec['lr']):>8}  "
                f"loss {rec['smoothed']:.4f}   ",
                end="",
                file=sys.stderr,
            )

    return progress


def _print_table(result: dict, plot) -> None:
    print(f"{'iter':>4}  {'lr':>10}  {'loss':>8}  {'smoothed':>8}")
    for i, (lr, loss, sm) in enumerate(zip(result["lrs"], result["losses"], result["smoothed"], strict=False)):
        print(f"{i:>4}  {lr:>10.3e}  {loss:>8.4f}  {sm:>8.4f}")
    how = "stopped: the loss diverged" if result["stopped"] == "diverged" else "ran all iterations"
    print(f"{len(result['lrs'])} iterations in {result['seconds']:.2f} s ({how})")
    print("suggested learning rates (pick one where the loss is still clearly falling):")
    for name, lr in result["suggestions"].items():
        star = "  ← default" if name == DEFAULT_SUGGESTION else ""
        print(f"  {SUGGESTION_LABELS[name]:<9} {format_lr(lr):>8}{star}")
    if plot:
        print(f"plot written to {plot}")


def run(args) -> int:
    from engine.data import DatasetError
    from engine.jobs import describe_error, run_to_end
    from engine.lr_finder import lr_find_job
    from engine.models import WeightsUnavailable
    from engine.training import Learner

    try:
        config, ds = _checked(args)
    except (ValueError, DatasetError) as exc:
        return fail(str(exc))
    if not ds.train:
        return fail(f"{ds.root} has no training images")
    show = sys.stderr.isatty() and not args.json
    try:
        job = lr_find_job(Learner(ds, config), args.start, args.end, args.iters, args.mode)
        result = run_to_end(job, _progress(show))
    except WeightsUnavailable as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except (ValueError, OSError, RuntimeError, DatasetError) as exc:
        return fail(describe_error(exc).strip().splitlines()[0])
    finally:
        if show:
            print(file=sys.stderr)
    if not result["lrs"]:
        return fail("the loss was not a finite number from the first step; check the data and --start")
    if args.plot:
        try:
            draw_plot(result, args.plot, title=f"LR finder — {ds.root.name} ({args.arch}, {args.size} px)")
        except OSError as exc:
            return fail(f"could not write {args.plot}: {exc.strerror or exc}")
    if args.json:
        keys = ("lrs", "losses", "smoothed", "suggestions", "stopped")
        print(json.dumps({**{k: result[k] for k in keys}, "seconds": round(result["seconds"], 3)}))
        return 0
    _print_table(result, args.plot)
    return 0


# ---------------------------------------------------------------- PNG plot (PIL, no Qt)


def draw_plot(result: dict, path, title: str = "LR finder", size=(960, 600)) -> Path:
    """Smoothed loss (raw loss faint) against LR on a log axis, suggestions marked; written as PNG."""
    from PIL import Image, ImageDraw

    lrs, losses, smoothed = result["lrs"], result["losses"], result["smoothed"]
    W, H = size
    left, right, top, bottom = 78, 28, 84, 66
    im = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(im)
    font, small, big = _font(14), _font(12), _font(17)
    if not hasattr(font, "getname") or "DejaVu" not in " ".join(font.getname()):
        title = title.encode("ascii", "replace").decode().replace("?", "-")  # built-in font: ASCII only
        labels = {k: v.replace("÷", "/") for k, v in SUGGESTION_LABELS.items()}
    else:
        labels = dict(SUGGESTION_LABELS)

    lx0, lx1 = math.floor(math.log10(min(lrs))), math.ceil(math.log10(max(lrs)))
    if lx1 == lx0:
        lx1 += 1
    y0, y1 = loss_view_range(losses, smoothed) or (0.0, 1.0)
    pw, ph = W - left - right, H - top - bottom

    def px(lr):
        return left + (math.log10(lr) - lx0) / (lx1 - lx0) * pw

    def py(v):
        v = min(max(v, y0), y1)
        return top + (y1 - v) / (y1 - y0) * ph

    # grid and axes
    for e in range(lx0, lx1 + 1):
        x = px(10.0**e)
        d.line([(x, top), (x, top + ph)], fill="#e6e6e6")
        label = f"1e{e}" if e not in (0, 1) else ("1" if e == 0 else "10")
        d.text((x, top + ph + 8), label, fill="#333333", font=small, anchor="ma")
    for v in _nice_ticks(y0, y1):
        y = py(v)
        d.line([(left, y), (left + pw, y)], fill="#e6e6e6")
        d.text((left - 8, y), f"{v:.3g}", fill="#333333", font=small, anchor="rm")
    d.rectangle([left, top, left + pw, top + ph], outline="#888888")
    d.text((left + pw / 2, H - 18), "learning rate (log scale)", fill="#222222", font=font, anchor="ms")
    label_img = Image.new("RGBA", (200, 22), (255, 255, 255, 0))
    ImageDraw.Draw(label_img).text((100, 11), "loss", fill="#222222", font=font, anchor="mm")
    im.paste(label_img.rotate(90, expand=True), (14, top + ph // 2 - 100), label_img.rotate(90, expand=True))
    d.text((left, 16), title, fill="#111111", font=big)

    # curves: raw faint, smoothed bold
    raw_pts = [(px(a), py(b)) for a, b in zip(lrs, losses, strict=False)]
    sm_pts = [(px(a), py(b)) for a, b in zip(lrs, smoothed, strict=False)]
    if len(raw_pts) > 1:
        d.line(raw_pts, fill="#b9cde3", width=1)
        d.line(sm_pts, fill="#1f5fa8", width=3, joint="curve")

    _draw_legend(d, left, result["suggestions"], labels, small)
    # a dot on the curve for each suggestion; the default suggestion last, so its dot is drawn on top when two coincide
    for name, lr in sorted(result["suggestions"].items(), key=lambda kv: kv[0] == DEFAULT_SUGGESTION):
        if lr is None or not lrs:
            continue
        v = _interp_log(lr, lrs, smoothed)
        cx, cy = px(min(max(lr, 10.0**lx0), 10.0**lx1)), py(v)
        d.ellipse([cx - 6, cy - 6, cx + 6, cy + 6], fill=SUGGESTION_COLORS[name], outline="white", width=2)
    path = Path(path)
    with atomic_file(path, ".png") as tmp:  # a full disk leaves the old plot whole
        im.save(tmp, "PNG")
    return path


def _draw_legend(d, x: float, suggestions: dict, labels: dict, small) -> None:
    """The legend row under the title: both curves, then each suggestion with its colour."""
    d.line([(x, 60), (x + 22, 60)], fill="#1f5fa8", width=3)
    d.text((x + 28, 60), "smoothed loss", fill="#222222", font=small, anchor="lm")
    x += 28 + d.textlength("smoothed loss", font=small) + 22
    d.line([(x, 60), (x + 22, 60)], fill="#b9cde3", width=2)
    d.text((x + 28, 60), "loss of each batch", fill="#222222", font=small, anchor="lm")
    x += 28 + d.textlength("loss of each batch", font=small) + 22
    for name, lr in suggestions.items():
        text = f"{labels[name]} {format_lr(lr)}"
        d.ellipse([x + 2, 55, x + 12, 65], fill=SUGGESTION_COLORS[name])
        d.text((x + 18, 60), text, fill="#222222", font=small, anchor="lm")
        x += 18 + d.textlength(text, font=small) + 20


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def _interp_log(lr: float, lrs, values) -> float:
    import numpy as np

    return float(np.interp(math.log10(lr), np.log10(lrs), values))


def _nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]
