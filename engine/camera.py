"""Webcams through OpenCV (PySide6-Essentials has no Qt Multimedia): find cameras, stream frames as a job.

Both are engine jobs: opening a camera can take a second, and reading frames blocks.
"""

from __future__ import annotations

import glob
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.jobs import check
from engine.records import FrameRecord

PROBE_INDICES = 4  # where cameras cannot be listed (macOS, Windows), indices 0..3 are tried
FRAME_INTERVAL = 1 / 15  # seconds between frames shown (the preview needs no more)
NO_CAMERA = "No camera found. Connect a webcam and press Look again — or add images by drop, paste or Add files…"


class CameraError(RuntimeError):
    """A camera could not be opened or stopped delivering frames."""


@dataclass(frozen=True)
class Camera:
    index: int
    name: str


def _quiet_opencv():
    import cv2

    try:  # OpenCV logs a warning for every index that has no camera
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass
    return cv2


def _candidates() -> list[tuple[int, str]]:
    """(index, name) of the devices worth opening."""
    if sys.platform.startswith("linux"):
        out = []
        for dev in glob.glob("/dev/video*"):
            m = re.fullmatch(r"/dev/video(\d+)", dev)
            if m:
                index = int(m.group(1))
                try:
                    name = Path(f"/sys/class/video4linux/video{index}/name").read_text().strip()
                except OSError:
                    name = ""
                out.append((index, name or f"Camera {index}"))
        return sorted(out)
    return [(i, f"Camera {i}") for i in range(PROBE_INDICES)]


def _open(index: int):
    cv2 = _quiet_opencv()
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        cap.release()
        return None
    return cap


def list_cameras() -> list[Camera]:
    """The cameras that open and deliver a frame (empty when there are none)."""
    found = []
    for index, name in _candidates():
        cap = _open(index)
        if cap is None:
            continue
        try:
            ok, frame = cap.read()
        finally:
            cap.release()
        if ok and frame is not None:
            found.append(Camera(index, name))
    return found


def find_cameras(stop: threading.Event | None = None) -> Iterator[dict]:
    """Job: look for cameras; returns list[Camera]."""
    check(stop)
    yield {"type": "cameras", "done": 0, "total": 1}
    return list_cameras()


def _rgb(frame: np.ndarray) -> np.ndarray:
    import cv2

    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def camera_frames(
    index: int, interval: float = FRAME_INTERVAL, stop: threading.Event | None = None
) -> Iterator[FrameRecord]:
    """Job: stream frames from camera ``index`` until stopped.

    Yields {"type": "frame", "number": n, "frame": (H, W, 3) uint8 RGB}; returns the number of frames.
    """
    cap = _open(index)
    if cap is None:
        raise CameraError(f"Camera {index} could not be opened (is another program using it?)")
    number = 0
    try:
        while True:
            check(stop)
            ok, frame = cap.read()
            if not ok or frame is None:
                raise CameraError(f"Camera {index} stopped sending pictures.")
            number += 1
            yield {"type": "frame", "number": number, "frame": _rgb(frame)}
            if stop is not None and stop.wait(interval):
                break
    finally:
        cap.release()
    return number
