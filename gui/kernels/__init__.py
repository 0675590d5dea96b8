"""The kernels tab."""

from gui.kernels.panel import KernelPlayground

__all__ = ["KernelPlayground"]
