"""Colours that follow the system palette, light or dark: the one place gui/ picks a colour.

Widgets never hard-code a text or background colour; they ask for a role here (muted text, an error,
a success, a pane behind pictures, the plots' background and ink), derived from the application's
palette, so a dark desktop theme (or ``-style fusion`` with a dark palette) stays readable. Data colours
(one line per series, the confusion matrix's heat) come from ``series_colour``/``heat_colour``, chosen
to read on both backgrounds.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette

# series colours readable on white and on a dark grey (Tableau's, slightly lifted for dark backgrounds)
_SERIES_LIGHT = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
_SERIES_DARK = ["#5aa9e6", "#ffa24d", "#5fd35f", "#ff6b6b", "#b99be0", "#c49a8a", "#f09bd6", "#4fd6e6"]


def palette() -> QPalette:
    return QGuiApplication.palette()


def is_dark(pal: QPalette | None = None) -> bool:
    """Whether the window background is dark (text is lighter than the background)."""
    pal = pal or palette()
    return pal.color(QPalette.Window).lightnessF() < pal.color(QPalette.WindowText).lightnessF()


def blend(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` towards ``b``."""
    return QColor.fromRgbF(*(x + (y - x) * t for x, y in zip(a.getRgbF()[:3], b.getRgbF()[:3], strict=True)))


def text() -> QColor:
    return palette().color(QPalette.WindowText)


def background() -> QColor:
    return palette().color(QPalette.Window)


def muted_text() -> QColor:
    """Secondary text (notes, captions): between text and background, still ≥ 4.5:1 against it."""
    return _readable(blend(text(), background(), 0.35), background())


def error_text() -> QColor:
    return _readable(QColor("#ff6b6b" if is_dark() else "#b3261e"), background())


def success_text() -> QColor:
    return _readable(QColor("#5fd35f" if is_dark() else "#1b7a2f"), background())


def pane() -> QColor:
    """Behind pictures and thumbnails: a step away from the window background."""
    return blend(background(), text(), 0.06)


def plot_background() -> QColor:
    return palette().color(QPalette.Base)


def plot_ink() -> QColor:
    return palette().color(QPalette.Text)


def series_colour(i: int) -> QColor:
    colours = _SERIES_DARK if is_dark() else _SERIES_LIGHT
    return QColor(colours[i % len(colours)])


def heat_colour(t: float) -> QColor:
    """A cell of a heat map at intensity ``t`` in [0, 1], on the plot background."""
    accent = series_colour(0)
    return blend(plot_background(), accent, max(0.0, min(1.0, t)) * 0.85)


def ink_on(fill: QColor) -> QColor:
    """Black or white, whichever reads better on ``fill``."""
    return (
        QColor("black")
        if contrast_ratio(QColor("black"), fill) >= contrast_ratio(QColor("white"), fill)
        else QColor("white")
    )


def css(colour: QColor) -> str:
    """A colour for a style sheet."""
    return colour.name()


# ---------------------------------------------------------------- contrast (WCAG 2)


def luminance(colour: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour.getRgbF()[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: QColor, b: QColor) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _readable(colour: QColor, against: QColor, ratio: float = 4.5) -> QColor:
    """``colour`` moved towards the background's opposite until it reads at ``ratio`` (WCAG AA)."""
    target = QColor("white") if luminance(against) < 0.5 else QColor("black")
    step = 0.0
    out = colour
    while contrast_ratio(out, against) < ratio and step < 1.0:
        step += 0.1
        out = blend(colour, target, step)
    return out


def dark_palette() -> QPalette:
    """A dark palette (for tests and screenshots of the dark theme; the app otherwise follows the system)."""
    pal = QPalette()
    window, base, ink = QColor("#2b2d31"), QColor("#1e1f22"), QColor("#e6e6e6")
    for role, colour in (
        (QPalette.Window, window),
        (QPalette.WindowText, ink),
        (QPalette.Base, base),
        (QPalette.AlternateBase, QColor("#313338")),
        (QPalette.Text, ink),
        (QPalette.Button, QColor("#3a3c42")),
        (QPalette.ButtonText, ink),
        (QPalette.ToolTipBase, QColor("#3a3c42")),
        (QPalette.ToolTipText, ink),
        (QPalette.PlaceholderText, QColor("#a0a0a0")),
        (QPalette.Highlight, QColor("#3d7bd9")),
        (QPalette.HighlightedText, QColor("white")),
        (QPalette.Link, QColor("#7ab4ff")),
    ):
        pal.setColor(role, colour)
    pal.setColor(QPalette.Disabled, QPalette.WindowText, QColor("#8a8a8a"))
    pal.setColor(QPalette.Disabled, QPalette.Text, QColor("#8a8a8a"))
    pal.setColor(QPalette.Disabled, QPalette.ButtonText, QColor("#8a8a8a"))
    return pal
