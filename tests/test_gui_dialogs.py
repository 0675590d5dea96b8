"""gui.dialogs: save/open dialogs start in the last folder chosen for that kind of file, else Documents,
never the working directory."""

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from gui import dialogs


@pytest.fixture
def asked(monkeypatch):
    """Replace QFileDialog's static functions; record the start folder each was given."""
    seen: list[str] = []
    answers: dict[str, object] = {}

    def fake(name, default):
        def call(parent, caption, start, *rest):
            seen.append(start)
            return answers.get(name, default)

        return call

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake("save", ("", "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", fake("open", ("", "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", fake("opens", ([], "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", fake("folder", ""))
    return seen, answers


def test_first_dialog_starts_in_documents_never_the_working_directory(qapp, home, asked, settings):
    seen, _ = asked
    dialogs.save_file_name(None, "Export predictions", "predictions", "predictions.csv", "CSV (*.csv)", settings)
    dialogs.open_file_name(None, "Load model", "model", "", settings)
    dialogs.existing_folder(None, "Folder to predict", "predict_folder", settings)
    assert seen == [str(home / "Documents" / "predictions.csv"), str(home / "Documents"), str(home / "Documents")]
    assert not any(Path(s).parent == Path(os.getcwd()) or Path(s) == Path(os.getcwd()) for s in seen)


def test_without_documents_home(qapp, home, asked, settings):
    (home / "Documents").rmdir()
    assert dialogs.start_folder("model", settings) == str(home)


def test_the_last_chosen_folder_is_remembered_per_kind(qapp, home, asked, settings, tmp_path):
    seen, answers = asked
    exports = tmp_path / "exports"
    exports.mkdir()
    answers["save"] = (str(exports / "mine.csv"), "CSV (*.csv)")
    path, _ = dialogs.save_file_name(None, "Export", "predictions", "predictions.csv", "", settings)
    assert path == str(exports / "mine.csv")
    answers["save"] = ("", "")  # cancelled: nothing changes
    dialogs.save_file_name(None, "Export", "predictions", "predictions.csv", "", settings)
    dialogs.save_file_name(None, "Export plot", "lr_plot", "lr_finder.png", "", settings)
    assert seen[1:] == [str(exports / "predictions.csv"), str(home / "Documents" / "lr_finder.png")]

    answers["opens"] = ([str(tmp_path / "pics" / "a.png")], "")
    (tmp_path / "pics").mkdir()
    dialogs.open_file_names(None, "Add images", "images", "", settings)
    answers["folder"] = str(tmp_path / "pics")
    dialogs.existing_folder(None, "Folder", "dataset", settings)
    assert (
        dialogs.start_folder("images", settings) == dialogs.start_folder("dataset", settings) == str(tmp_path / "pics")
    )

    exports.rmdir()  # a remembered folder that is gone: back to Documents
    assert dialogs.start_folder("predictions", settings) == str(home / "Documents")
