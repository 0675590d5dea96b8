"""The Train tab's file dialogs: a weights file to import, where to save the model (and as what)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

PTH_FILTER = "Fovea model (*.pth)"
ONNX_FILTER = "ONNX, for other runtimes (*.onnx)"
WEIGHTS_FILTER = "PyTorch weights (*.pth *.pt *.bin);;All files (*)"


def model_path_for(path: str, chosen_filter: str) -> str:
    """The file to write for a name typed in the save dialog: the suffix follows the chosen filter."""
    suffix = Path(path).suffix.lower()
    if chosen_filter in (PTH_FILTER, ONNX_FILTER) and suffix not in (".pth", ".onnx"):
        return path + (".onnx" if chosen_filter == ONNX_FILTER else ".pth")
    if chosen_filter == ONNX_FILTER and suffix == ".pth":
        return str(Path(path).with_suffix(".onnx"))
    return path


def ask_model_path(parent: QWidget, default: Path) -> str | None:
    path, chosen = QFileDialog.getSaveFileName(
        parent, "Save model", str(default), f"{PTH_FILTER};;{ONNX_FILTER};;All files (*)"
    )
    return model_path_for(path, chosen) if path else None


def ask_weights_file(parent: QWidget, arch: str) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, f"Import weights for {arch}", str(Path.home()), WEIGHTS_FILTER)
    return path or None
