"""`fovea kernel IMAGE (--preset NAME | --kernel "1 2 1; 0 0 0; -1 -2 -1") -o OUT.png`: apply one kernel."""

from __future__ import annotations

import argparse

from engine.cli import fail
from engine.images import ImageError
from engine.kernel_presets import PRESETS, preset
from engine.kernels import (
    BORDERS,
    MODES,
    KernelError,
    apply_kernel,
    format_kernel,
    format_number,
    parse_kernel,
    save_result,
)
from engine.paths import check_output_path


def register(sub) -> None:
    p = sub.add_parser(
        "kernel",
        help="apply an image kernel (a preset or your own numbers) and save the result",
        description="Correlate every pixel's neighbourhood with a kernel (no flip, like the lecture and "
        "OpenCV filter2D) and save the 8-bit result. Same engine and pixels as the Kernels tab.",
        epilog='example: python main.py kernel photo.png --kernel "1 2 1; 0 0 0; -1 -2 -1" -o edges.png',
    )
    p.add_argument("image", nargs="?", help="input image file")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--preset", metavar="NAME", help="a named kernel (see --list-presets)")
    which.add_argument(
        "--kernel",
        metavar="TEXT",
        help='your numbers: rows separated by ";" — "1 2 1; 0 0 0; -1 -2 -1" (3×3, 5×5 or 7×7)',
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default="clip",
        help="clip: round and clamp to 0–255 (default); abs: |value|; normalise: stretch min–max to 0–255",
    )
    p.add_argument(
        "--border",
        choices=BORDERS,
        default="replicate",
        help="pixels outside the image: repeat the edge (default), zeros, or mirror",
    )
    p.add_argument("--gray", "--grey", action="store_true", help="filter the grey conversion instead of R, G, B")
    p.add_argument(
        "--divisor",
        type=float,
        default=None,
        help="divide the sum by this (default 1, or the preset's, e.g. 16 for blur)",
    )
    p.add_argument("--bias", type=float, default=0.0, help="add this after dividing (default 0)")
    p.add_argument("-o", "--output", metavar="OUT", help="where to write the result (.png, .jpg, …)")
    p.add_argument("--list-presets", action="store_true", help="print the preset kernels and exit")
    p.set_defaults(run=run)


def list_presets() -> str:
    width = max(len(n) for n in PRESETS)
    lines = []
    for p in PRESETS.values():
        div = f" / {p.divisor}" if p.divisor != 1 else ""
        lines.append(f"{p.name:<{width}}  {format_kernel(p.kernel)}{div}")
        lines.append(f"{'':<{width}}  {p.description}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.list_presets:
        print(list_presets())
        return 0
    if not args.image:
        return fail("give an IMAGE to filter (or --list-presets)")
    if args.output is None:
        return fail("give an output file with -o OUT.png")
    try:
        check_output_path(args.output, "-o")  # a device, FIFO or folder is refused before any work
    except ValueError as exc:
        return fail(str(exc))
    if (args.preset is None) == (args.kernel is None):
        return fail('give exactly one of --preset NAME or --kernel "1 2 1; 0 0 0; -1 -2 -1"')
    try:
        if args.preset is not None:
            p = preset(args.preset)
            kernel, divisor = p.kernel, float(p.divisor)
        else:
            kernel, divisor = parse_kernel(args.kernel), 1.0
        if args.divisor is not None:
            divisor = args.divisor
        import numpy as np

        from engine.images import load_rgb

        image = np.asarray(load_rgb(args.image), dtype=np.uint8)
        result = apply_kernel(
            image, kernel, divisor=divisor, bias=args.bias, mode=args.mode, border=args.border, gray=args.gray
        )
        save_result(result, args.output)
    except KernelError as exc:
        return fail(str(exc))
    except ImageError as exc:
        return fail(f"{args.image}: {exc}")
    shape = "×".join(str(s) for s in result.shape[1::-1])
    extra = f" / {format_number(divisor)}" if divisor != 1 else ""
    print(
        f"{args.output}: {shape} {'grey' if result.ndim == 2 else 'RGB'}, kernel {format_kernel(kernel)}{extra}, "
        f"{args.mode}, {args.border} border"
    )
    return 0
