"""The main window: menus, toolbar, the next-step banner, tabs of panels, dataset open/drop, status bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QTabWidget,
)

from engine.data import scan_job
from engine.images import is_image_name
from engine.model_choice import load_current_model_job
from engine.paths import resources_dir, sample_dataset_dir
from engine.runs import RunStore
from engine.warmup import warm_up_job
from gui.classify import ClassifyPanel
from gui.dataset import DatasetBrowser
from gui.guide import GuideBanner, GuideController
from gui.jobs import JobSlot, QtJob
from gui.kernels import KernelPlayground
from gui.lr_finder import LRFinderPanel
from gui.lr_finder.controller import OWNER as LR_FINDER
from gui.state import AppState
from gui.training import TrainingPanel

MAX_RECENT = 8
APP_TITLE = "Fovea"


def show_shortcut_in_tooltip(action: QAction) -> None:
    """Append the action's shortcut to its tooltip ("Open a folder … (Ctrl+O)"), once."""
    keys = action.shortcut().toString(QKeySequence.NativeText)
    tip = action.toolTip()
    if keys and keys not in tip:
        action.setToolTip(f"{tip} ({keys})")


class MainWindow(QMainWindow):
    def __init__(self, state: AppState | None = None, settings: QSettings | None = None):
        super().__init__()
        self.state = state or AppState(self)
        self.settings = settings or QSettings()
        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(QIcon(str(resources_dir() / "fovea.png")))
        self.setAcceptDrops(True)
        self.scan_slot = JobSlot("scan", self)  # listing the folder being opened
        self.warm_slot = JobSlot("warm-up", self)  # see warm_up()
        self.model_slot = JobSlot("current model", self)  # see load_current_model()
        self._warm_job: QtJob | None = None
        self._maker = None  # File ▸ New dataset…'s window, while open

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        # Train and the LR finder share the learner: one slot says which of them holds it.
        self.learner_slot = JobSlot("learner", self)
        self.store = RunStore()  # kept runs and the current model, shared by Train and Classify (no torch)
        self.browser = DatasetBrowser(self.state)
        self.panels = self._make_panels()
        for title, panel in self.panels.items():
            self.tabs.addTab(panel, title)
        self.setCentralWidget(self.tabs)
        # in the toolbar's row, right of its buttons: a line of its own would cost the height that a
        # 1024×576 screen does not have
        self.guide = GuideBanner()

        self._status = QLabel("No dataset")
        self._busy = QProgressBar()
        self._busy.setMaximumWidth(160)
        self._busy.setRange(0, 0)
        self._busy.hide()
        self.statusBar().addWidget(self._status, 1)
        self.statusBar().addPermanentWidget(self._busy)
        self.state.statusMessage.connect(lambda m: self.statusBar().showMessage(m, 6000))
        self.state.datasetChanged.connect(self._on_dataset)
        self.browser.verified.connect(self._on_verified)
        self.browser.badFilesFound.connect(self.panels["Train"].set_bad_files)  # left out of Train's counts

        self._build_menus()
        self._connect_guide()
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, (QByteArray, bytes)):
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)

    def _make_panels(self) -> dict:
        """Each tab, given what it needs (state, shared slots) by its constructor; panels never look
        each other up. Each has ``file_actions`` (for the File menu) and ``shutdown()``.

        The order is the lesson's: look at the data, find a learning rate, train, try the model. Kernels
        ("what does a convolution do?") comes last: it is the lesson's aside, not a step of the path, and
        nothing on the path needs it."""
        return {
            "Data": self.browser,
            "LR finder": LRFinderPanel(self.state, learner_slot=self.learner_slot),
            "Train": TrainingPanel(
                self.state,
                learner_slot=self.learner_slot,
                store=self.store,
                lr_range=lambda: self.state.lr_test_range,
                settings=self.settings,
            ),
            "Classify": ClassifyPanel(self.state, store=self.store, restore_current=False),
            "Kernels": KernelPlayground(self.state),
        }

    # ------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self.act_open = QAction(QIcon.fromTheme("folder-open"), "&Open dataset folder…", self)
        self.act_open.setShortcut(QKeySequence.Open)
        self.act_open.setToolTip("Open a folder with train/<class>/ and valid/<class>/ images")
        self.act_open.triggered.connect(self.choose_dataset)
        self.act_new = QAction(QIcon.fromTheme("document-new"), "&New dataset…", self)
        self.act_new.setShortcut(QKeySequence.New)
        self.act_new.setToolTip("Make a dataset from your own pictures: name classes, drop, paste or take photos")
        self.act_new.triggered.connect(self.new_dataset)
        self.act_sample = QAction(QIcon.fromTheme("go-home"), "Open &sample dataset", self)
        self.act_sample.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.act_sample.setToolTip("The built-in sample: Fashion-MNIST sneakers vs ankle boots")
        self.act_sample.triggered.connect(lambda: self.open_dataset(sample_dataset_dir()))
        self.recent_menu = QMenu("Open &recent", self)
        for action in (self.act_new, self.act_open):
            m.addAction(action)
        m.addMenu(self.recent_menu)
        m.addAction(self.act_sample)
        m.addSeparator()
        self.file_menu = m
        quit_act = QAction("&Quit", self)
        quit_act.setShortcut(QKeySequence("Ctrl+Q"))  # QKeySequence.Quit is empty on some platforms
        quit_act.setToolTip("Close Fovea (it asks first while training or the LR finder runs)")
        quit_act.triggered.connect(self.close)
        self._quit_act = quit_act
        for panel in self.panels.values():
            for action in panel.file_actions:
                m.addAction(action)
        m.addSeparator()
        m.addAction(quit_act)
        self._build_view_menu()
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Fovea", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

        tb = self.addToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonFollowStyle)
        for action in (self.act_new, self.act_open, self.act_sample):
            tb.addAction(action)
        tb.addSeparator()
        self.guide_action = tb.addWidget(self.guide)  # hidden and shown through its action
        self.toolbar = tb
        self._refresh_recent()
        for menu in (m, self.view_menu):
            for action in menu.actions():
                show_shortcut_in_tooltip(action)

    def _build_view_menu(self) -> None:
        self.view_menu = self.menuBar().addMenu("&View")
        self.tab_actions = []
        for i in range(self.tabs.count()):
            act = QAction(self.tabs.tabText(i), self)
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.setToolTip(f"Show the {self.tabs.tabText(i)} tab")
            act.triggered.connect(lambda _=False, i=i: self.tabs.setCurrentIndex(i))
            self.view_menu.addAction(act)
            self.tab_actions.append(act)
        self.view_menu.addSeparator()
        self.act_guide = QAction("Show &next step", self)
        self.act_guide.setCheckable(True)
        self.act_guide.setChecked(self.settings.value("window/guide", True, type=bool))
        self.act_guide.setToolTip("The line under the menus that says what to do next")
        self.act_guide.toggled.connect(self._on_guide_toggled)
        self.view_menu.addAction(self.act_guide)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About Fovea",
            "<b>Fovea</b><br>fast.ai lesson 1 as a desktop app: image kernels, "
            "fine-tuning a pretrained CNN, the learning-rate finder and classifying images.<br><br>"
            "Sample data: Fashion-MNIST © Zalando SE (MIT licence). Photos: scikit-image (CC0).",
        )

    # ------------------------------------------------------------ datasets
    def open_initial(self, dataset: str | None) -> None:
        if dataset:
            self.open_dataset(dataset)
            return
        recent = self.recent()
        target = recent[0] if recent and Path(recent[0]).is_dir() else sample_dataset_dir()
        self.open_dataset(target)

    def choose_dataset(self) -> None:
        start = self.recent()[0] if self.recent() else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open dataset folder", start)
        if folder:
            self.open_dataset(folder)

    def open_dataset(self, path) -> None:
        """List the folder on an engine thread (superseding an open still listing); every tab shows it when done."""
        path = str(path)
        self._status.setText(f"Opening {path} …")
        self._busy.show()
        self.scan_slot.start(
            scan_job,
            path,
            on_finished=lambda dataset: self._scanned(path, dataset),
            on_failed=lambda message: self._scan_failed(path, message),
            on_ended=lambda _kind: self._busy.hide(),
        )

    def _scanned(self, path: str, dataset) -> None:
        if Path(path).resolve() != sample_dataset_dir().resolve():
            self._remember(path)
        self.state.set_dataset(dataset)

    def _scan_failed(self, path: str, message: str) -> None:
        current = self.state.dataset
        if current is not None:
            # nothing is lost: the open dataset stays in every tab; only the dialog reports the bad path
            self._status.setText(f"Could not open {path} — still showing {current.root}  ·  {current.summary()}")
        else:
            self._status.setText(f"Could not open {path}")
            self.browser.show_error(path, message)
        QMessageBox.warning(self, "Not a dataset folder", message)

    def _on_dataset(self, dataset) -> None:
        if dataset is None:
            self.setWindowTitle(APP_TITLE)
            self._status.setText("No dataset")
            return
        # Qt appends the application's display name to a title unless it already ends with it:
        # "sample — Fovea", never "Fovea — sample — Fovea"
        self.setWindowTitle(f"{dataset.root.name} — {APP_TITLE}")
        self._status.setText(f"{dataset.root}  ·  {dataset.summary()}")

    def new_dataset(self):
        """File ▸ New dataset…: the dataset maker's window; the dataset it makes opens here."""
        from gui.dataset_maker import DatasetMaker

        if self._maker is None:
            self._maker = DatasetMaker(self.settings, self)
            self._maker.openRequested.connect(self.open_dataset)
            self._maker.finished.connect(self._on_maker_closed)
        self._maker.show()
        self._maker.raise_()
        self._maker.activateWindow()
        return self._maker

    def _on_maker_closed(self, _result: int) -> None:
        maker, self._maker = self._maker, None
        if maker is not None:
            maker.shutdown()
            maker.deleteLater()

    # ------------------------------------------------------------ the current model
    def load_current_model(self) -> QtJob:
        """Load the model that was current when the app last closed (the run store's, on a job thread):
        it becomes AppState's model unless one was chosen meanwhile."""
        return self.model_slot.start(
            load_current_model_job,
            self.store.root,
            owner="start-up",
            on_finished=self._on_current_model,
            on_failed=self.state.status,
        )

    def _on_current_model(self, result) -> None:
        model, problems = result
        for line in problems:
            self.state.status(line)
        if model is not None and self.state.model is None:
            self.state.set_model(model)

    # ------------------------------------------------------------ the next step
    def _connect_guide(self) -> None:
        self.guide_controller = GuideController(self.state, self.guide, self)
        self.guide_controller.stepRequested.connect(self._on_guide_step)
        self.guide.hideRequested.connect(lambda: self.act_guide.setChecked(False))
        self.tabs.currentChanged.connect(
            lambda _i: self.tabs.currentWidget() is self.panels["Classify"] and self.guide_controller.classify_shown()
        )
        self.guide_action.setVisible(self.act_guide.isChecked())

    def _on_guide_step(self, key: str) -> None:
        if key == "open":
            self.choose_dataset()
        else:
            self.tabs.setCurrentWidget(self.panels[key])

    def _on_guide_toggled(self, on: bool) -> None:
        self.settings.setValue("window/guide", on)
        self.guide_action.setVisible(on)

    def _on_verified(self, bad_images: int) -> None:
        """Every image has been decoded: the permanent status counts the bad ones too."""
        ds = self.state.dataset
        if ds is not None:
            self._status.setText(f"{ds.root}  ·  {ds.summary(extra_problems=bad_images)}")

    # ------------------------------------------------------------ recent
    def recent(self) -> list[str]:
        value = self.settings.value("recent/datasets", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember(self, path: str) -> None:
        path = str(Path(path).resolve())
        items = [path] + [p for p in self.recent() if p != path]
        self.settings.setValue("recent/datasets", items[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        items = self.recent()
        for p in items:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, p=p: self.open_dataset(p))
        self.recent_menu.setEnabled(bool(items))

    # ------------------------------------------------------------ drops
    def dragEnterEvent(self, event) -> None:
        md = event.mimeData()
        if md.hasUrls() or md.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        md = event.mimeData()
        folders, images = [], []
        for url in md.urls():
            if url.isLocalFile():
                p = Path(url.toLocalFile())
                if p.is_dir() and (p / "train").is_dir():
                    folders.append(p)
                elif p.is_dir() or is_image_name(p.name) or p.is_file():
                    images.append(str(p))
            else:
                images.append(url.toString())
        if folders:
            self.open_dataset(folders[0])
            event.acceptProposedAction()
        elif images or md.hasImage():
            # the Classify tab listens to imagesDropped
            self.tabs.setCurrentWidget(self.panels["Classify"])
            self.state.imagesDropped.emit(images or [md.imageData()])
            event.acceptProposedAction()

    # ------------------------------------------------------------ closing
    def busy_reason(self) -> str | None:
        """What quitting now would throw away, or None when nothing is lost (every finished run is in
        the run store; only a run in progress is not). Asks the learner slot Train and the LR finder share."""
        if not self.learner_slot.running:
            return None
        if self.learner_slot.owner == LR_FINDER:
            return "The LR finder is running. Quitting stops it and its curve is lost."
        return (
            "Training is running. Quitting stops it: the epochs finished so far are kept in the run store, "
            "the one in progress is lost."
        )

    def confirm_quit(self, reason: str) -> bool:
        answer = QMessageBox.question(
            self, "Quit Fovea?", f"{reason}\n\nQuit anyway?", QMessageBox.Yes | QMessageBox.No, QMessageBox.No
        )
        return answer == QMessageBox.Yes

    def closeEvent(self, event) -> None:
        reason = self.busy_reason()
        if reason is not None and not self.confirm_quit(reason):
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.shutdown()
        super().closeEvent(event)

    def warm_up(self) -> QtJob:
        """Import torch and the heavy libraries on a job thread, once, so the first training, LR test or
        network view does not stall the window while it imports them (see engine.warmup)."""
        if self._warm_job is None:
            self._warm_job = self.warm_slot.start(warm_up_job, owner="warm-up")
        return self._warm_job

    def shutdown(self) -> None:
        """Cancel every running job and wait for its thread (tests and closing)."""
        self.scan_slot.shutdown(5)
        self.warm_slot.shutdown(30)  # an import cannot be interrupted; it ends within seconds
        self.model_slot.shutdown(30)  # nor can loading torch and the model
        if self._maker is not None:
            self._maker.shutdown()
        for panel in self.panels.values():
            panel.shutdown()
        self.learner_slot.shutdown()
