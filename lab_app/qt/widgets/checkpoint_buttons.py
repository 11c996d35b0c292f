"""The Save / Load button row of every tab that keeps a trained model (Qt).

The row asks for a file and hands its path to the tab's callbacks; what saving and loading do
(in a task, through lab_app.io.checkpoint) stays with the tab. Files are filtered to *.safetensors,
the one checkpoint format of the lab."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPushButton, QWidget

FILTER = "Checkpoints (*.safetensors)"


class CheckpointButtons(QWidget):
    """Two buttons, "Save <what>..." and "Load <what>...". ``on_save(path)`` / ``on_load(path)`` get
    the chosen file (a save path always ends in .safetensors); cancelling a dialog calls nothing."""

    def __init__(self, what: str, on_save: Callable[[Path], None], on_load: Callable[[Path], None],
                 default_name: str = "model.safetensors", save_tip: str = "", load_tip: str = "",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.what = what
        self.default_name = default_name
        self._on_save, self._on_load = on_save, on_load
        self.save_button = QPushButton(f"Save {what}...")
        self.save_button.setToolTip(save_tip or f"Write the current {what} (weights, config, scores, seed) "
                                                "to a .safetensors checkpoint")
        self.load_button = QPushButton(f"Load {what}...")
        self.load_button.setToolTip(load_tip or f"Read a {what} saved by this tab (.safetensors); a file "
                                                "of another tab or a damaged one is refused and the "
                                                "current model stays")
        self.save_button.clicked.connect(self.ask_save)
        self.load_button.clicked.connect(self.ask_load)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.save_button)
        row.addWidget(self.load_button)
        self.last_dir = ""

    def ask_save(self) -> None:
        start = str(Path(self.last_dir) / self.default_name) if self.last_dir else self.default_name
        path, _ = QFileDialog.getSaveFileName(self, f"Save {self.what}", start, FILTER)
        if path:
            path = Path(path) if path.endswith(".safetensors") else Path(path + ".safetensors")
            self.last_dir = str(path.parent)
            self._on_save(path)
            self._note_saved(path)

    def _note_saved(self, path: Path) -> None:
        """Tell the tab (an ancestor with ``note_checkpoint_saved``): the Runs dock then offers the
        file as the checkpoint of the tab's newest run."""
        widget = self.parentWidget()
        while widget is not None and not hasattr(widget, "note_checkpoint_saved"):
            widget = widget.parentWidget()
        if widget is not None:
            widget.note_checkpoint_saved(path)

    def ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Load {self.what}", self.last_dir, FILTER)
        if path:
            self.last_dir = str(Path(path).parent)
            self._on_load(Path(path))
