"""The classify tab."""

from gui.classify.panel import ClassifyPanel

__all__ = ["ClassifyPanel"]
