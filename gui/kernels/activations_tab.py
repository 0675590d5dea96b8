"""The Activations by depth tab: pick depths of the pretrained network, see its feature maps of the image."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QSpinBox, QVBoxLayout, QWidget

from gui.images import qimage_from_array
from gui.kernels.widget_tools import scrolled

DEFAULT_MAPS = 8  # feature maps shown per depth


class ActivationsView(QWidget):
    """Rows of feature maps, shallow to deep; each row is one depth of the network."""

    MAP_H = 60
    GAP = 4
    LABEL_H = 18

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, list[QImage]]] = []
        lut = pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256, alpha=False)
        self._lut = np.asarray(lut, dtype=np.uint8)

    def set_results(self, results: list[dict]) -> None:
        self.rows = []
        for i, r in enumerate(results):
            title = (
                f"Layer {i + 1}: {r['name']} — {r['channels']} channels of {r['width']}×{r['height']}"
                f" (showing the {len(r['channel_ids'])} most varied)"
            )
            self.rows.append((title, [qimage_from_array(self._lut[m]) for m in r["maps"]]))
        self.setMinimumHeight(self._height())
        self.update()

    def _height(self) -> int:
        return len(self.rows) * (self.LABEL_H + self.MAP_H + self.GAP * 2)

    def sizeHint(self) -> QSize:
        return QSize(600, max(60, self._height()))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        y = 0
        for title, maps in self.rows:
            p.setPen(self.palette().color(QPalette.WindowText))
            p.drawText(QRectF(0, y, self.width(), self.LABEL_H), Qt.AlignLeft | Qt.AlignVCenter, title)
            y += self.LABEL_H
            x = 0
            for im in maps:
                w = max(8, round(self.MAP_H * im.width() / max(1, im.height())))
                if x + w > self.width():
                    break
                p.drawImage(QRectF(x, y, w, self.MAP_H), im)
                x += w + self.GAP
            y += self.MAP_H + self.GAP * 2
        p.end()


class ActivationsTab(QWidget):
    """Depth checkboxes and a map count on the left, the maps on the right.

    ``settingsEdited(depths, n_maps)`` when the user ticks a depth or changes the count.
    """

    settingsEdited = Signal(list, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        left = QVBoxLayout()
        left.addWidget(QLabel("Depths:"))
        self.depth_list = QListWidget()
        self.depth_list.setMaximumWidth(130)
        self.depth_list.itemChanged.connect(self._edited)
        left.addWidget(self.depth_list, 1)
        maps_row = QHBoxLayout()
        maps_row.addWidget(QLabel("Maps"))
        self.maps_spin = QSpinBox()
        self.maps_spin.setRange(1, 16)
        self.maps_spin.setValue(DEFAULT_MAPS)
        self.maps_spin.valueChanged.connect(self._edited)
        maps_row.addWidget(self.maps_spin)
        left.addLayout(maps_row)
        self.info = QLabel(
            "Feature maps of the image at several depths of the pretrained network: "
            "early layers find edges and colours, deeper ones larger patterns."
        )
        self.info.setWordWrap(True)
        self.maps = ActivationsView()
        right = QVBoxLayout()
        right.addWidget(self.info)
        right.addWidget(scrolled(self.maps), 1)
        h = QHBoxLayout(self)
        h.addLayout(left)
        h.addLayout(right, 1)

    def chosen_depths(self) -> list[str]:
        items = (self.depth_list.item(i) for i in range(self.depth_list.count()))
        return [item.text() for item in items if item.checkState() == Qt.Checked]

    def _edited(self, *_) -> None:
        self.settingsEdited.emit(self.chosen_depths(), self.maps_spin.value())

    # ------------------------------------------------------------ shown state
    def show_depths(self, names: list[str], chosen: list[str]) -> None:
        """The depths a network offers, ``chosen`` ticked; no maps until they are computed."""
        self.depth_list.blockSignals(True)
        self.depth_list.clear()
        for name in names:
            self.depth_list.addItem(name)
            item = self.depth_list.item(self.depth_list.count() - 1)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if name in chosen else Qt.Unchecked)
        self.depth_list.blockSignals(False)
        self.maps.set_results([])

    def set_info(self, html_text: str) -> None:
        self.info.setText(html_text)

    def show_results(self, results: list[dict]) -> None:
        self.maps.set_results(results)

    def has_results(self) -> bool:
        return bool(self.maps.rows)
