"""The form's Recipe group, on top: Auto (with its time budget in minutes, right there), the lesson's
presets, or Custom (the form below), and a few lines saying what the chosen recipe trains."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout

from gui import theme
from gui.training.recipes import AUTO, MAX_BUDGET_S, MIN_BUDGET_S, RECIPES, Recipe

TIPS = {
    "auto": "Fovea picks the learning rate, stops at the best epoch and fine-tunes deeper when it helps",
    "lesson1": "The lesson's first model: the new head on precomputed activations, fit(0.01, 3)",
    "lesson1-unfreeze": "The lesson's whole sequence: head, then augmentation, then the unfrozen network with SGDR",
    "custom": "Your own settings: every setting below",
}


class RecipeControls(QGroupBox):
    edited = Signal()  # the recipe or Auto's budget changed: the controller reads values()

    def __init__(self):
        super().__init__("Recipe")
        self.combo = QComboBox()
        for name in RECIPES:
            self.combo.addItem(Recipe().label(name), name)
            self.combo.setItemData(self.combo.count() - 1, TIPS.get(name, ""), 3)  # Qt.ToolTipRole
        self.combo.setToolTip("How to train: Auto chooses for you; the lesson's recipes are one click away")
        self.budget_spin = QDoubleSpinBox()
        self.budget_spin.setRange(MIN_BUDGET_S / 60, MAX_BUDGET_S / 60)
        self.budget_spin.setDecimals(1)
        self.budget_spin.setSingleStep(0.5)
        self.budget_spin.setSuffix(" min")
        self.budget_spin.setToolTip("Auto's time budget: it fine-tunes deeper only when that fits in it")
        self.budget_label = QLabel("Up to")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(f"color: {theme.css(theme.muted_text())};")
        row = QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.budget_label)
        row.addWidget(self.budget_spin)
        col = QVBoxLayout(self)
        col.addLayout(row)
        col.addWidget(self.note)
        self.combo.currentIndexChanged.connect(self.edited)
        self.budget_spin.valueChanged.connect(self.edited)

    def set_recipe(self, recipe: Recipe, note: str) -> None:
        """Show ``recipe`` and what it trains (no signals: this is not the user choosing)."""
        with QSignalBlocker(self.combo), QSignalBlocker(self.budget_spin):
            self.combo.setCurrentIndex(max(0, self.combo.findData(recipe.name)))
            self.combo.setItemText(self.combo.findData(AUTO), recipe.label(AUTO))
            self.budget_spin.setValue(recipe.budget_s / 60)
        auto = recipe.name == AUTO
        self.budget_label.setVisible(auto)
        self.budget_spin.setVisible(auto)
        self.note.setText(note)
        self.note.setVisible(bool(note))

    def values(self) -> Recipe:
        return Recipe(self.combo.currentData(), round(self.budget_spin.value() * 60, 3))
