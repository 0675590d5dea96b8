"""Make a dataset inside the app: classes, images by drop/paste/files/webcam, an automatic split."""

from gui.dataset_maker.controller import DatasetMakerController
from gui.dataset_maker.dialog import DatasetMaker
from gui.dataset_maker.view import DatasetMakerView

__all__ = ["DatasetMaker", "DatasetMakerController", "DatasetMakerView"]
