"""Pictures between numpy and Qt: the one place that converts arrays, PIL images and QImages."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap


def qimage_from_array(arr: np.ndarray) -> QImage:
    """A QImage copy of an H×W (grey) or H×W×3 (RGB) uint8 array."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    h, w = arr.shape[:2]
    fmt = QImage.Format_Grayscale8 if arr.ndim == 2 else QImage.Format_RGB888
    return QImage(arr.data, w, h, arr.strides[0], fmt).copy()


def array_from_qimage(image: QImage) -> np.ndarray:
    """An H×W×3 uint8 RGB copy of a QImage of any format; transparency is composited onto white."""
    if image.hasAlphaChannel():
        flat = QImage(image.size(), QImage.Format_RGB888)
        flat.fill(QColor("white"))
        painter = QPainter(flat)
        painter.drawImage(0, 0, image)
        painter.end()
    else:
        flat = image.convertToFormat(QImage.Format_RGB888)
    h, w, bpl = flat.height(), flat.width(), flat.bytesPerLine()
    buf = np.frombuffer(flat.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


def qimage_from_pil(im) -> QImage:
    """A QImage copy of a PIL image (converted to RGB)."""
    return qimage_from_array(np.asarray(im.convert("RGB")))


def pixmap_for(arr: np.ndarray | None, side: int) -> QPixmap | None:
    """A pixmap fitting side×side; small images (Fashion-MNIST) are enlarged with crisp pixels."""
    if arr is None:
        return None
    pm = QPixmap.fromImage(qimage_from_array(arr))
    mode = Qt.FastTransformation if max(pm.width(), pm.height()) < side else Qt.SmoothTransformation
    return pm.scaled(side, side, Qt.KeepAspectRatio, mode)
