"""The dataset maker's controller: owns which dataset and class are open, changes the managed dataset
through engine.dataset_maker, runs the slow parts (copying images in, thumbnails, the webcam) as jobs,
and tells the view what to show."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from engine.camera import camera_frames, find_cameras
from engine.dataset_maker import (
    MadeDataset,
    MakerError,
    add_class,
    add_images,
    create_dataset,
    delete_class,
    list_datasets,
    read_dataset,
    remove_images,
    rename_class,
)
from engine.thumbnails import ThumbnailRequests, thumbnail_job
from gui.dataset_maker.image_grid import THUMB
from gui.dataset_maker.view import DatasetMakerView
from gui.jobs import JobSlot

LAST_KEY = "dataset_maker/last"


class DatasetMakerController(QObject):
    openRequested = Signal(str)  # the dataset folder, to open in the main window
    changed = Signal()  # the dataset shown was read again (the dialog's title follows it)

    def __init__(self, view: DatasetMakerView, settings: QSettings | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.settings = settings or QSettings()
        self.made: MadeDataset | None = None
        self.selected: str | None = None
        self.frame = None  # the webcam's latest picture
        self._queue: deque[tuple[Path, str, list]] = deque()  # adds waiting for the one running
        self.adds = JobSlot("add images", self)
        self.thumbs = JobSlot("dataset maker thumbnails", self)
        self.cameras = JobSlot("camera", self)
        self._connect_view()
        folders = list_datasets()
        last = self.settings.value(LAST_KEY, "", str)
        self._open(next((f for f in folders if str(f) == last), folders[0] if folders else None))

    def _connect_view(self) -> None:
        v = self.view
        v.createRequested.connect(self._on_view_create)
        v.datasetChosen.connect(lambda folder: self._open(Path(folder)))
        v.sourcesAdded.connect(self._on_view_sources)
        v.refused.connect(lambda why: v.set_message(why, error=True))
        v.openRequested.connect(self._on_view_open)
        v.classes.classSelected.connect(self._on_view_class_selected)
        v.classes.addRequested.connect(self._on_view_add_class)
        v.classes.renameRequested.connect(self._on_view_rename_class)
        v.classes.deleteRequested.connect(self._on_view_delete_class)
        v.images.removeRequested.connect(self._on_view_remove)
        v.tabs.currentChanged.connect(self._on_view_tab)
        v.camera.lookRequested.connect(self.look_for_cameras)
        v.camera.startRequested.connect(self._on_view_camera_start)
        v.camera.stopRequested.connect(self.cameras.cancel)
        v.camera.captureRequested.connect(self._on_view_capture)

    @property
    def folder(self) -> Path | None:
        return self.made.root if self.made is not None else None

    # ------------------------------------------------------------ model changes -> view
    def _open(self, folder: Path | None) -> None:
        self.made, self.selected = None, None
        if folder is not None:
            self.settings.setValue(LAST_KEY, str(folder))
        self.reload(folder)
        self.view.set_datasets(list_datasets(), folder)

    def reload(self, folder: Path | None = None) -> None:
        """Read the dataset from disk again and show it (the selected class stays if it still exists)."""
        folder = folder or self.folder
        try:
            self.made = read_dataset(folder) if folder is not None else None
        except (MakerError, OSError) as exc:
            self.made = None
            self.view.set_message(str(exc), error=True)
        names = [c.name for c in self.made.classes] if self.made is not None else []
        if self.selected not in names:
            self.selected = names[0] if names else None
        self.view.set_dataset(self.made, self.selected)
        self._load_thumbnails()
        self.changed.emit()

    def _load_thumbnails(self) -> None:
        paths = self.view.images.paths()
        if not paths:
            self.thumbs.cancel()
            return
        requests = ThumbnailRequests()
        requests.request(reversed(paths))  # last in, first out: the first images come first
        self.thumbs.start(
            thumbnail_job, requests, THUMB, 2, idle_exit=True, on_progress=self._on_thumbnail, owner="maker"
        )

    def _on_thumbnail(self, record: dict) -> None:
        self.view.set_thumbnail(record["path"], record["file"])

    def _try(self, action, *args):
        """Run one quick dataset change; a refusal becomes the view's message. Returns its result or None."""
        try:
            result = action(*args)
        except (MakerError, OSError) as exc:
            self.view.set_message(str(exc), error=True)
            return None
        self.view.set_message("")
        return result

    # ------------------------------------------------------------ view changes -> controller
    def _on_view_create(self, name: str) -> None:
        folder = self._try(create_dataset, name)
        if folder is not None:
            self.view.clear_new_dataset_name()
            self._open(folder)
            self.view.set_message(f"Made the dataset '{folder.name}'. Now add a class for each kind of thing.")

    def _on_view_class_selected(self, name: str) -> None:
        if name != self.selected:
            self.selected = name
            self.reload()

    def _on_view_add_class(self, name: str) -> None:
        if self.folder is None:
            return
        added = self._try(add_class, self.folder, name)
        if added is not None:
            self.selected = added
            self.view.classes.clear_new_name()
        self.reload()

    def _on_view_rename_class(self, old: str, new: str) -> None:
        if self._busy_adding():
            self.reload()
            return
        renamed = self._try(rename_class, self.folder, old, new)
        if renamed is not None:
            self.selected = renamed
        self.reload()

    def _on_view_delete_class(self, name: str) -> None:
        if self._busy_adding():
            return
        self._try(delete_class, self.folder, name)
        self.reload()

    def _on_view_remove(self, paths: list[str]) -> None:
        removed = self._try(remove_images, self.folder, paths)
        self.reload()
        if removed:
            self.view.set_message(f"Removed {removed} image{'s' if removed != 1 else ''} from '{self.selected}'.")

    def _on_view_sources(self, sources: list) -> None:
        if self.folder is None or self.selected is None:
            self.view.set_message("Make a dataset and select a class first, then add its images.", error=True)
            return
        self._queue.append((self.folder, self.selected, list(sources)))
        if not self.adds.running:
            self._start_next_add()

    def _on_view_open(self) -> None:
        if self.folder is not None:
            self.openRequested.emit(str(self.folder))

    # ------------------------------------------------------------ adding images (one job at a time, queued)
    def _busy_adding(self) -> bool:
        if self.adds.running or self._queue:
            self.view.set_message("Wait until the images being added are in, then try again.", error=True)
            return True
        return False

    def _start_next_add(self) -> None:
        if not self._queue:
            self.view.set_adding(0, 0)
            return
        folder, name, sources = self._queue.popleft()
        self.view.set_adding(0, len(sources))
        self.adds.start(
            add_images,
            folder,
            name,
            sources,
            owner="maker",
            on_progress=lambda r: self.view.set_adding(r["done"], max(r["total"], 1)),
            on_finished=lambda result, n=name: self.view.set_message(result.message(n), error=not result.added),
            on_failed=lambda msg: self.view.set_message(msg, error=True),
            on_ended=self._on_add_ended,
        )

    def _on_add_ended(self, _kind: str) -> None:
        self.reload()
        self._start_next_add()

    # ------------------------------------------------------------ webcam
    def _on_view_tab(self, index: int) -> None:
        if self.view.tabs.widget(index) is self.view.camera:
            if self.view.camera.cameras.count() == 0 and not self.cameras.running:
                self.look_for_cameras()
        elif self.cameras.running:
            self.cameras.cancel()  # the camera light goes off when its picture is not shown

    def look_for_cameras(self) -> None:
        self.view.camera.set_searching()
        self.cameras.start(
            find_cameras,
            owner="find",
            on_finished=self.view.camera.set_cameras,
            on_failed=lambda msg: self.view.camera.set_cameras([], msg),
        )

    def _on_view_camera_start(self, index: int) -> None:
        self.frame = None
        self.view.camera.set_streaming(True, self.selected is not None)
        self.cameras.start(
            camera_frames,
            index,
            owner="stream",
            on_progress=self._on_frame,
            on_failed=lambda msg: self.view.set_message(msg, error=True),
            on_ended=lambda _kind: self.view.camera.set_streaming(False),
        )

    def _on_frame(self, record: dict) -> None:
        self.frame = record["frame"]
        self.view.camera.show_frame(self.frame)

    def _on_view_capture(self) -> None:
        if self.frame is not None:
            self._on_view_sources([self.frame.copy()])

    def shutdown(self) -> None:
        for slot in (self.cameras, self.adds, self.thumbs):
            slot.shutdown()
