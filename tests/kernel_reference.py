"""An independent reference for engine.kernels: plain Python loops, no OpenCV, written from the documented rules."""

import numpy as np


def ref_index(i: int, n: int, border: str):
    """Index read for coordinate i of an axis of length n, or None for a zero border."""
    if 0 <= i < n:
        return i
    if border == "zero":
        return None
    if border == "replicate":
        return 0 if i < 0 else n - 1
    if n == 1:
        return 0
    while not 0 <= i < n:  # mirror about the edge pixel, as often as needed
        i = -i if i < 0 else 2 * (n - 1) - i
    return i


def ref_gray(img):
    h, w, _ = img.shape
    out = np.zeros((h, w), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            r, g, b = (int(v) for v in img[y, x])
            out[y, x] = round((9798 * r + 19235 * g + 3735 * b) / 32768)  # Python rounds ties to even
    return out


def ref_response(img, kernel, divisor=1.0, bias=0.0, border="replicate", gray=False):
    """v = Σ k·p / divisor + bias per pixel (and channel), in float64, by explicit loops."""
    img = np.asarray(img)
    if gray and img.ndim == 3:
        img = ref_gray(img)
    k = np.asarray(kernel, dtype=np.float64)
    rgb_kernel = k.ndim == 3
    if img.ndim == 2:
        img = img[..., None]
    h, w, c = img.shape
    n = k.shape[0]
    r = n // 2
    out = np.zeros((h, w, 1 if rgb_kernel else c))
    for y in range(h):
        for x in range(w):
            for ch in range(out.shape[2]):
                s = 0.0
                for i in range(n):
                    yy = ref_index(y + i - r, h, border)
                    for j in range(n):
                        xx = ref_index(x + j - r, w, border)
                        if yy is None or xx is None:
                            continue
                        if rgb_kernel:
                            s += sum(float(img[yy, xx, cc]) * k[i, j, cc] for cc in range(3))
                        else:
                            s += float(img[yy, xx, ch]) * k[i, j]
                out[y, x, ch] = s / divisor + bias
    return out[..., 0] if out.shape[2] == 1 else out


def ref_output(v, mode):
    v = np.asarray(v, dtype=np.float64)
    flat = v.ravel()
    lo, hi = flat.min(), flat.max()
    out = np.zeros(flat.shape, dtype=np.uint8)
    for idx, value in enumerate(flat):
        if mode == "clip":
            q = round(value)
        elif mode == "abs":
            q = round(abs(value))
        else:
            q = 0 if hi == lo else round((value - lo) * (255.0 / (hi - lo)))
        out[idx] = min(255, max(0, q))
    return out.reshape(v.shape)


def ref_apply(img, kernel, divisor=1.0, bias=0.0, mode="clip", border="replicate", gray=False):
    return ref_output(ref_response(img, kernel, divisor, bias, border, gray), mode)


def rand_image(rng, h=9, w=11, gray=False):
    shape = (h, w) if gray else (h, w, 3)
    return rng.integers(0, 256, shape, dtype=np.uint8)
