"""The dataset tab."""

from gui.dataset.panel import DatasetBrowser

__all__ = ["DatasetBrowser"]
