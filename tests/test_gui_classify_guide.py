"""Classify tab, issue 15: a readable confusion matrix for 10+ classes at 1366×768, export dialogs that start
in Documents or the last folder, Save shortcut, next-step empty states, dark palette, small screens."""

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

from gui import theme
from gui.classify import ClassifyPanel
from gui.state import AppState
from tests.contrast import low_contrast_texts

LONG = [f"a_rather_long_class_name_number_{i}_with_detail" for i in range(10)]


@pytest.fixture
def panel(qtbot):
    p = ClassifyPanel(AppState())
    qtbot.addWidget(p)
    p.resize(1366, 768 - 90)  # the window's tab area at 1366×768 (title bar, menu, tabs, status bar)
    p.show()
    yield p
    p.shutdown()


def evaluation(classes, seed=0):
    n = len(classes)
    rng = np.random.default_rng(seed)
    cm = rng.integers(0, 9, size=(n, n)) + np.diag(rng.integers(80, 120, size=n))
    labels = np.repeat(np.arange(n), cm.sum(1))
    preds = np.concatenate([np.repeat(np.arange(n), row) for row in cm])
    return SimpleNamespace(
        labels=labels,
        preds=preds,
        accuracy=float(np.trace(cm) / cm.sum()),
        tta=False,
        confusion=cm,
        classes=list(classes),
        precision=np.diag(cm) / cm.sum(0),
        recall=np.diag(cm) / cm.sum(1),
    )


def test_a_ten_class_matrix_fits_every_cell_readable_with_full_names_on_hover(qtbot, panel):
    panel.view.tabs.setCurrentWidget(panel.view.evaluate)
    metrics = panel.view.evaluate.metrics
    metrics.show_evaluation(evaluation(LONG), "note")
    qtbot.wait(50)
    matrix = metrics.matrix
    scroll = metrics.parentWidget().parentWidget()  # the metrics column's scroll area
    view_rect = scroll.viewport().rect()
    top_left = matrix.mapTo(scroll.viewport(), QPoint(0, 0))
    assert view_rect.contains(QRect(top_left, matrix.size())), "the whole matrix shows without scrolling"
    viewport = matrix.viewport().rect()
    for i in range(10):
        for j in range(10):
            rect = matrix.visualRect(matrix.model().index(i, j))
            assert viewport.contains(rect), f"cell {i},{j} is clipped"
            font = QFont(matrix.font())
            font.setPixelSize(matrix.cell_pixels())
            font.setBold(True)
            fm = QFontMetrics(font)
            text = matrix.item(i, j).text()
            assert fm.horizontalAdvance(text) < rect.width() and fm.height() <= rect.height()
            assert LONG[i] in matrix.item(i, j).toolTip() and LONG[j] in matrix.item(i, j).toolTip()
    assert rect.width() >= 24 and abs(rect.width() - rect.height()) <= 2  # square cells, big enough to click
    for j in range(10):
        column, row = matrix.horizontalHeaderItem(j), matrix.verticalHeaderItem(j)
        assert column.text() == str(j + 1) and LONG[j] in column.toolTip()
        assert row.text().startswith(f"{j + 1} ") and LONG[j] in row.toolTip()
    header = matrix.verticalHeader()
    assert header.width() < matrix.width() / 2  # the names leave the cells room


def test_a_two_class_matrix_names_its_columns(qtbot, panel):
    matrix = panel.view.evaluate.metrics.matrix
    panel.view.evaluate.metrics.show_evaluation(evaluation(["cats", "dogs"]), "")
    assert [matrix.horizontalHeaderItem(j).text() for j in range(2)] == ["→ cats", "→ dogs"]
    assert matrix.visualRect(matrix.model().index(1, 1)).height() <= 84


def test_batch_exports_start_in_documents_then_the_last_folder_and_ctrl_s_saves(qtbot, monkeypatch, tmp_path, home):
    from gui.classify.batch_page import BatchPage

    out = tmp_path / "exports"
    out.mkdir()
    starts, answers = [], [str(out / "p.csv"), str(out / "s.csv"), ""]

    def fake_save(_parent, _caption, start, _filters):
        starts.append(start)
        return answers.pop(0), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_save)
    page = BatchPage()
    qtbot.addWidget(page)
    page.show()
    wrote = []
    page.csvChosen.connect(lambda p: wrote.append(("csv", p)))
    page.kaggleChosen.connect(lambda p: wrote.append(("kaggle", p)))
    page.set_exports(True, True)
    page.export_btn.click()
    page.kaggle_btn.click()
    page.activateWindow()
    page.batch_tta.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.batch_tta)
    QTest.keyClick(page.batch_tta, Qt.Key_S, Qt.ControlModifier)  # Save: the predictions CSV
    assert starts == [
        str(home / "Documents" / "predictions.csv"),
        str(out / "submission.csv"),
        str(out / "predictions.csv"),
    ]
    assert not any(Path(s).parent == Path(os.getcwd()) for s in starts)
    assert wrote == [("csv", str(out / "p.csv")), ("kaggle", str(out / "s.csv"))]


def test_empty_states_say_the_next_step(qtbot):
    panel = ClassifyPanel(AppState())  # not shown: the ImageNet network does not start loading
    qtbot.addWidget(panel)
    assert panel.view.drop.results.hint.startswith("Try it:")
    assert "Then export" in panel.view.batch.batch_folder.text()
    assert "Next: try it" in panel.view.model_bar.model_info.text()
    assert "Open a dataset" in panel.view.evaluate.metrics.eval_note.text()
    panel.shutdown()


def test_readable_in_a_dark_palette(qtbot):
    app = QApplication.instance()
    old = app.palette()
    app.setPalette(theme.dark_palette())
    try:
        p = ClassifyPanel(AppState())
        qtbot.addWidget(p)
        p.resize(1366, 700)
        p.show()
        p.view.evaluate.metrics.show_evaluation(evaluation(LONG[:3]), "Cross-entropy loss 0.2")
        for page in (p.view.drop, p.view.batch, p.view.evaluate):
            p.view.tabs.setCurrentWidget(page)
            assert low_contrast_texts(p) == []
        info = p.view.model_bar.model_info  # the description that was nearly invisible
        assert theme.contrast_ratio(info.palette().color(info.foregroundRole()), theme.background()) >= 7
        matrix = p.view.evaluate.metrics.matrix
        for i in range(3):
            for j in range(3):
                item = matrix.item(i, j)
                ratio = theme.contrast_ratio(item.foreground().color(), item.background().color())
                assert ratio >= 4.5, (i, j, ratio)
        assert matrix.item(0, 1).background().color().lightnessF() < 0.5  # dark cells on a dark theme
        p.shutdown()
    finally:
        app.setPalette(old)


def test_fits_a_small_screen(qtbot, panel):
    hint = panel.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 576 - 100
    panel.resize(1024, 576 - 100)
    panel.view.evaluate.metrics.show_evaluation(evaluation(LONG), "")
    for page in (panel.view.drop, panel.view.batch, panel.view.evaluate):
        panel.view.tabs.setCurrentWidget(page)
        qtbot.wait(10)
        assert page.geometry().right() <= panel.width() and page.height() > 200
