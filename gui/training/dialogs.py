"""The Train tab's dialogs: a weights file to import, where to save the model or the ONNX export (both
start where gui.dialogs says), and the confirmation a risky learning rate asks for."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from gui import dialogs

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


def ask_model_path(parent: QWidget, name: str, onnx: bool = False) -> str | None:
    """Where to save the model (``onnx``: the ONNX export), starting in the last folder used for models."""
    chosen_filter = ONNX_FILTER if onnx else PTH_FILTER
    caption = "Export ONNX" if onnx else "Save model"
    path, chosen = dialogs.save_file_name(parent, caption, "model", name, chosen_filter)
    return model_path_for(path, chosen or chosen_filter) if path else None


def ask_weights_file(parent: QWidget, arch: str) -> str | None:
    path = dialogs.open_file_name(parent, f"Import weights for {arch}", "weights", WEIGHTS_FILTER)
    return path or None


def confirm_lr(parent: QWidget, warning: str) -> bool:
    """Ask before training with a learning rate that will likely diverge; True: start anyway."""
    answer = QMessageBox.warning(
        parent,
        "Start with this learning rate?",
        warning,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes
