"""The training tab."""

from gui.training.panel import TrainingPanel

__all__ = ["TrainingPanel"]
