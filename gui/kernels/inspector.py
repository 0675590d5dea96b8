"""The pixel inspector: one output pixel's arithmetic, neighbourhood × kernel = sum, written out as HTML."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from engine.kernel_layers import PixelBreakdown
from gui import theme
from gui.kernels.kernel_controls import CHANNEL_NAMES
from gui.kernels.kernel_grid import weight_colour
from gui.kernels.widget_tools import scrolled


def hint_html() -> str:
    return (
        f"<p style='color:{theme.css(theme.muted_text())}'>Point at a pixel in either picture to see the arithmetic:<br>the pixel's "
        "neighbourhood × the kernel, added up, is the result pixel.</p>"
    )


def number_text(v: float) -> str:
    """Short: integers bare, large numbers with one decimal, others with up to 3 (or 2 above 1)."""
    v = float(v)
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1 else f"{v:.2f}".rstrip("0").rstrip(".")


def _cell_width(a) -> int:
    return 7 * max(len(number_text(v)) for v in np.ravel(a)) + 10


def _matrix(m, width: int, colour: bool = False) -> str:
    """A small bordered table of numbers; ``colour`` tints them like the kernel grid."""
    top = float(np.abs(m).max()) or 1.0
    rows = []
    for row in m:
        tds = []
        for v in row:
            fill = weight_colour(v, top)
            style = f" bgcolor='{fill.name()}' style='color:{theme.ink_on(fill).name()}'" if colour else ""
            tds.append(f"<td align='right' width='{width}'{style}>{number_text(v)}&nbsp;</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return (
        f"<table cellspacing='0' cellpadding='1' style='border:1px solid {theme.css(theme.muted_text())}; "
        "font-family:monospace'>" + "".join(rows) + "</table>"
    )


def _result_text(b: PixelBreakdown, c: int, out, relu: bool, mode: str) -> str:
    """ "= sum ÷ divisor + bias = value ReLU → 0 → pixel p (mode)" for channel ``c``."""
    tail = []
    if b.divisor != 1:
        tail.append(f"÷ {number_text(b.divisor)}")
    if b.bias:
        tail.append(f"{'+' if b.bias > 0 else '−'} {number_text(abs(b.bias))}")
    v = b.values[c]
    parts = [f"= <b>{number_text(b.sums[c])}</b>"]
    if tail:
        parts.append(f"{' '.join(tail)} = {number_text(v)}")
    if relu and v < 0:
        parts.append("ReLU → 0")
    if out is not None:
        parts.append(f"→ pixel <b>{int(out[min(c, len(out) - 1)])}</b> ({mode})")
    return " ".join(parts)


def _rgb_kernel_body(b: PixelBreakdown, result: str) -> str:
    """An RGB kernel: three products, one per channel, added into one sum."""
    k, pw, kw = b.kernel, _cell_width(b.patch), _cell_width(b.kernel)
    rows = []
    for c in range(3):
        part = float((b.patch[..., c] * k[..., c]).sum())
        rows.append(
            f"<tr><td valign='middle'>{'+' if c else ''}</td>"
            f"<td valign='middle'><b>{CHANNEL_NAMES[c]}</b></td>"
            f"<td>{_matrix(b.patch[..., c], pw)}</td><td valign='middle'>×</td>"
            f"<td>{_matrix(k[..., c], kw, colour=True)}</td>"
            f"<td valign='middle'>= {number_text(part)}</td></tr>"
        )
    return "<table cellspacing='4'>" + "".join(rows) + "</table>" + f"<p>Sum over R, G and B {result}</p>"


def _lecture_words(b: PixelBreakdown, channel_name: str) -> str:
    """The lecture's words, literally: multiply element-wise, then add (3×3 kernels, zero weights left out)."""
    terms = [(kv, pv) for kv, pv in zip(b.kernel.ravel(), b.patch[..., 0].ravel(), strict=False) if kv != 0]
    text = " ".join(
        f"{'−' if kv < 0 else '+'} {number_text(abs(kv)) + '·' if abs(kv) != 1 else ''}{number_text(pv)}"
        for kv, pv in terms
    )
    text = text[2:] if text.startswith("+ ") else text.replace("− ", "−", 1)
    return (
        f"<p style='color:{theme.css(theme.muted_text())}'>{channel_name}: {text or '0'} = {number_text(b.sums[0])}"
        "&nbsp;&nbsp;(zero weights left out)</p>"
    )


def breakdown_html(b: PixelBreakdown, layer_index: int, out, relu: bool, mode: str) -> str:
    """The inspector's text for pixel (b.x, b.y) of layer ``layer_index`` (0-based); ``out`` is the shown
    result pixel (one value per channel) or None."""
    src = "image" if layer_index == 0 else f"layer {layer_index} output"
    head = (
        f"<b>Pixel x={b.x}, y={b.y}</b> &nbsp;·&nbsp; layer {layer_index + 1}: "
        f"{b.kernel.shape[0]}×{b.kernel.shape[0]} neighbourhood of the {src} × kernel, added up"
    )
    if b.kernel.ndim == 3:
        return f"<p>{head}</p>{_rgb_kernel_body(b, _result_text(b, 0, out, relu, mode))}"
    channels = b.patch.shape[2]
    names = CHANNEL_NAMES if channels == 3 else ("grey",)
    kernel_html = _matrix(b.kernel, _cell_width(b.kernel), colour=True)
    pw = _cell_width(b.patch)
    rows = [
        f"<tr><td valign='middle'><b>{names[c]}</b></td>"
        f"<td>{_matrix(b.patch[..., c], pw)}</td>"
        f"<td valign='middle'>×</td><td>{kernel_html}</td>"
        f"<td valign='middle'>{_result_text(b, c, out, relu, mode)}</td></tr>"
        for c in range(channels)
    ]
    body = "<table cellspacing='4'>" + "".join(rows) + "</table>"
    if b.kernel.shape[0] == 3:
        body += _lecture_words(b, names[0])
    return f"<p>{head}</p>{body}"


class Inspector(QLabel):
    """Selectable rich text at the top left; ``scroll_area`` is what the tab shows."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("inspector")
        self.setTextFormat(Qt.RichText)
        self.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.setContentsMargins(8, 6, 8, 6)
        self.setText(hint_html())
        self.scroll_area = scrolled(self)

    def show_error(self, message: str) -> None:
        self.setText(html.escape(message))
