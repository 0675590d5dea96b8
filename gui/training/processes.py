"""Where training runs: the device named in the form, and with 2+ GPUs the Processes choice, the
data-parallel launch command (engine.cli.launch) and the cluster command dialog."""

from __future__ import annotations

from PySide6.QtCore import QObject

from engine.config import TrainConfig
from engine.paths import data_dir
from gui.training.model_files import model_file_name
from gui.training.view import TrainingView


class Processes(QObject):
    def __init__(self, view: TrainingView, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.gpus = 1  # GPUs on this computer (engine.distributed.local_gpu_count, asked when shown)

    def show_device(self) -> None:
        """Name the device training will use; offer Processes with 2+ GPUs (imports torch: once shown)."""
        from engine.distributed import local_gpu_count
        from engine.models import device_name, pick_device

        self.view.show_device(device_name(pick_device()))
        self.gpus = local_gpu_count()
        self.view.run_box.show_processes(self.gpus)

    def command(self, config: TrainConfig, ds, nproc: int) -> list[str] | None:
        """The torchrun command that trains ``config`` on ``ds`` in ``nproc`` processes (None: the
        settings cannot, and the user was told why)."""
        from engine.cli.launch import train_command

        output = str(data_dir("models") / f"{ds.root.name}-{config.arch}-parallel.pth")
        try:
            return train_command(config, str(ds.root), output, nproc)
        except ValueError as exc:
            self.view.show_error("Cannot train in several processes", str(exc))
            return None

    def show_cluster_commands(self, config: TrainConfig, ds) -> None:
        from gui.training.cluster_dialog import ClusterDialog

        dataset = str(ds.root) if ds is not None else "DATASET"
        output = model_file_name(None, ds, config.arch)
        try:
            dialog = ClusterDialog(config, dataset, output, max(2, self.view.processes()), self.view)
        except ValueError as exc:
            self.view.show_error("No cluster command for these settings", str(exc))
            return
        self.view.cluster_dialog = dialog
        dialog.open()
