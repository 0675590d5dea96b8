"""The lr_finder tab."""

from gui.lr_finder.panel import LRFinderPanel

__all__ = ["LRFinderPanel"]
