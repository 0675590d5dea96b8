"""engine.camera: finding cameras and streaming frames (OpenCV's VideoCapture replaced by a fake)."""

import threading

import numpy as np
import pytest

from engine import camera
from engine.jobs import Cancelled, run_to_end


class FakeCapture:
    """A camera at index 0 that sends blue-green-red frames; other indices don't open."""

    opened: list = []
    released: list = []

    def __init__(self, index):
        self.index = index
        FakeCapture.opened.append(index)

    def isOpened(self):
        return self.index == 0

    def read(self):
        frame = np.zeros((6, 8, 3), np.uint8)
        frame[..., 0] = 255  # OpenCV's channel order is BGR: this is blue
        return True, frame

    def release(self):
        FakeCapture.released.append(self.index)


@pytest.fixture
def fake_camera(monkeypatch):
    import cv2

    FakeCapture.opened, FakeCapture.released = [], []
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    monkeypatch.setattr(camera, "_candidates", lambda: [(0, "Fake cam"), (1, "Broken cam")])


def test_no_camera_means_an_empty_list(monkeypatch):
    monkeypatch.setattr(camera, "_candidates", lambda: [])
    assert run_to_end(camera.find_cameras()) == []
    assert "No camera found" in camera.NO_CAMERA


def test_cameras_that_open_are_listed_and_released(fake_camera):
    assert run_to_end(camera.find_cameras()) == [camera.Camera(0, "Fake cam")]
    assert FakeCapture.opened == [0, 1] and FakeCapture.released == [0, 1]


def test_frames_stream_as_rgb_until_stopped_and_the_camera_is_released(fake_camera):
    stop = threading.Event()
    gen = camera.camera_frames(0, interval=0, stop=stop)
    first, second = next(gen), next(gen)
    assert (first["number"], second["number"]) == (1, 2)
    assert first["frame"].shape == (6, 8, 3) and first["frame"][0, 0].tolist() == [0, 0, 255]  # blue, in RGB
    stop.set()
    with pytest.raises((Cancelled, StopIteration)):
        next(gen)
    assert FakeCapture.released == [0]


def test_a_camera_that_does_not_open_says_so(fake_camera):
    with pytest.raises(camera.CameraError, match="Camera 1 could not be opened"):
        next(camera.camera_frames(1))
