"""RunsPanel: the current tab's recorded runs (lab_app/core/runs.py), newest first.

Tick two or more runs to overlay a metric's curves (one colour each, the legend names the knobs that
differ) and to see their config diff; rename, tag and delete runs; reopen a run's checkpoint; export
the ticked runs to TensorBoard event files or CSV. The window puts the panel in a dock (View > Runs,
Ctrl+R) and refreshes it when a run of the current tab ends."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lab_app.core.runs import RunInfo, RunStore, RunStoreError, config_diff
from lab_app.qt.widgets.plots import plot_widget

COLOURS = ["#4e9af1", "#f1a94e", "#5cc469", "#e0605e", "#a27ef0", "#53c9c9", "#d982c2", "#b5b54a"]
COLUMNS = ("run", "status", "started", "knobs that differ", "final metrics")


class RunsPanel(QWidget):
    open_checkpoint = Signal(str)   # a run's checkpoint path, for the window to open
    message = Signal(str)           # a line for the status bar

    def __init__(self, db_path: str | Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.db_path = Path(db_path) if db_path else None
        self.tab = ""
        self.runs: list[RunInfo] = []
        self.store: RunStore | None = None
        self.error = ""
        if self.db_path is not None:
            try:
                self.store = RunStore(self.db_path)
                if self.store.notice:
                    self.error = self.store.notice
            except (RunStoreError, OSError) as e:
                self.error = str(e)
        self._build()

    # --- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        self.header = QLabel()
        self.header.setWordWrap(True)
        col.addWidget(self.header)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setToolTip("Every training run of this tab, newest first. Tick runs to overlay their curves "
                             "and compare their configs; double-click to rename.")
        self.tree.itemChanged.connect(lambda *_: self._ticked_changed())
        self.tree.itemDoubleClicked.connect(lambda item, _c: self.rename(self._id_of(item)))
        buttons = QHBoxLayout()
        self.buttons = {}
        for name, tip, slot in (
            ("Rename", "Give the selected run a name", lambda: self.rename(self._selected_id())),
            ("Tags", "Set the selected run's tags (comma separated)", lambda: self.tag(self._selected_id())),
            ("Delete", "Delete the ticked runs (or the selected one) and their points", self._delete_clicked),
            ("Open checkpoint", "Open the checkpoint saved from the selected run", self._open_ckpt_clicked),
            ("TensorBoard...", "Export the ticked runs as TensorBoard event files (tensorboard --logdir DIR)",
             self._export_tb_dialog),
            ("CSV...", "Export the ticked runs' metric points as CSV", self._export_csv_dialog),
        ):
            b = QPushButton(name)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            buttons.addWidget(b)
            self.buttons[name] = b
        buttons.addStretch(1)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.tree, 1)
        tl.addLayout(buttons)

        bottom = QWidget()
        bl = QHBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        left = QVBoxLayout()
        self.metric_box = QComboBox()
        self.metric_box.setToolTip("The metric whose curves the ticked runs overlay")
        self.metric_box.currentTextChanged.connect(lambda _t: self._draw_overlay())
        left.addWidget(self.metric_box)
        self.plot = plot_widget()
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "step")
        self.legend = self.plot.addLegend(offset=(-10, 10))
        left.addWidget(self.plot, 1)
        bl.addLayout(left, 3)
        self.diff = QPlainTextEdit()
        self.diff.setReadOnly(True)
        self.diff.setToolTip("The knobs whose values differ among the ticked runs")
        bl.addWidget(self.diff, 2)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        col.addWidget(split, 1)
        self.curves: dict[int, pg.PlotDataItem] = {}

    # --- data -------------------------------------------------------------------------------------
    def set_tab(self, tab_id: str) -> None:
        self.tab = tab_id
        self.refresh()

    def refresh(self) -> None:
        if self.store is None:
            self.header.setText(f"Runs are not recorded: {self.error}" if self.error else "Runs are not recorded")
            return
        ticked = set(self.ticked_ids())
        self.runs = self.store.runs(self.tab)
        diffs = config_diff(self.runs) if len(self.runs) > 1 else {}
        self.tree.blockSignals(True)
        self.tree.clear()
        for info in self.runs:
            knobs = ", ".join(f"{k}={_short(info.config.get(k, info.card.get(k)))}" for k in list(diffs)[:4])
            finals = ", ".join(f"{k} {v:.4g}" for k, v in sorted(info.final.items())[:4])
            started = _dt.datetime.fromtimestamp(info.started).strftime("%Y-%m-%d %H:%M:%S")
            status = info.status + (f": {info.message}" if info.message else "")
            item = QTreeWidgetItem([info.title + (f"  [{', '.join(info.tags)}]" if info.tags else ""), status,
                                    started, knobs, finals])
            item.setData(0, Qt.ItemDataRole.UserRole, info.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if info.id in ticked else Qt.CheckState.Unchecked)
            item.setToolTip(1, status)
            self.tree.addTopLevelItem(item)
        for c in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(c)
        self.tree.blockSignals(False)
        note = f" ({self.error})" if self.error else ""
        self.header.setText(f"<b>{len(self.runs)} run(s) of this tab</b>: tick two or more to compare{note}")
        self._ticked_changed()

    def ticked_ids(self) -> list[int]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.checkState(0) == Qt.CheckState.Checked:
                out.append(self._id_of(item))
        return out

    def tick(self, run_ids) -> None:
        wanted = set(run_ids)
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            item.setCheckState(0, Qt.CheckState.Checked if self._id_of(item) in wanted else Qt.CheckState.Unchecked)

    def _id_of(self, item: QTreeWidgetItem | None) -> int | None:
        return None if item is None else int(item.data(0, Qt.ItemDataRole.UserRole))

    def _selected_id(self) -> int | None:
        return self._id_of(self.tree.currentItem())

    def _ticked_changed(self) -> None:
        ids = self.ticked_ids()
        keys: list[str] = []
        for rid in ids:
            for k in self.store.metrics(rid) if self.store else {}:
                if k not in keys:
                    keys.append(k)
        current = self.metric_box.currentText()
        self.metric_box.blockSignals(True)
        self.metric_box.clear()
        self.metric_box.addItems(keys)
        if current in keys:
            self.metric_box.setCurrentText(current)
        self.metric_box.blockSignals(False)
        chosen = [r for r in self.runs if r.id in ids]
        diff = config_diff(chosen) if len(chosen) > 1 else {}
        lines = [f"{k}: " + "  |  ".join(_short(v) for v in vals) for k, vals in diff.items()]
        header = "  |  ".join(r.title for r in chosen)
        self.diff.setPlainText((header + "\n\n" + "\n".join(lines)) if len(chosen) > 1 and lines else
                               (header + "\n\nsame config" if len(chosen) > 1 else "tick two or more runs"))
        self._draw_overlay()

    def _draw_overlay(self) -> None:
        self.plot.clear()
        self.legend.clear()
        self.curves = {}
        key = self.metric_box.currentText()
        if not key or self.store is None:
            return
        chosen = [r for r in self.runs if r.id in self.ticked_ids()]
        diff = config_diff(chosen) if len(chosen) > 1 else {}
        for i, info in enumerate(chosen):
            steps, values = self.store.metrics(info.id).get(key, ([], []))
            label = info.title + (" (" + ", ".join(f"{k}={_short(v[i])}" for k, v in list(diff.items())[:2]) + ")"
                                  if diff else "")
            pen = pg.mkPen(COLOURS[i % len(COLOURS)], width=2)
            self.curves[info.id] = self.plot.plot(steps, values, pen=pen, name=label)
        self.plot.setLabel("left", key)

    # --- actions ----------------------------------------------------------------------------------
    def rename(self, run_id: int | None, name: str | None = None) -> None:
        if run_id is None or self.store is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename run", "Name:", text=self.store.run(run_id).name)
            if not ok:
                return
        self.store.rename(run_id, name)
        self.refresh()

    def tag(self, run_id: int | None, tags: str | None = None) -> None:
        if run_id is None or self.store is None:
            return
        if tags is None:
            tags, ok = QInputDialog.getText(self, "Tags", "Tags (comma separated):",
                                            text=",".join(self.store.run(run_id).tags))
            if not ok:
                return
        self.store.set_tags(run_id, tags.split(","))
        self.refresh()

    def delete(self, run_ids: list[int]) -> None:
        if self.store is not None and run_ids:
            self.store.delete(run_ids)
            self.message.emit(f"deleted {len(run_ids)} run(s)")
            self.refresh()

    def _delete_clicked(self) -> None:
        ids = self.ticked_ids() or ([self._selected_id()] if self._selected_id() is not None else [])
        if ids and QMessageBox.question(self, "Delete runs", f"Delete {len(ids)} run(s) and their points?") \
                == QMessageBox.StandardButton.Yes:
            self.delete(ids)

    def _open_ckpt_clicked(self) -> None:
        rid = self._selected_id()
        if rid is None or self.store is None:
            return
        path = self.store.run(rid).checkpoint
        if not path:
            self.message.emit("no checkpoint was saved from this run")
        elif not Path(path).exists():
            self.message.emit(f"{Path(path).name}: the run's checkpoint is no longer there")
        else:
            self.open_checkpoint.emit(path)

    def export_tensorboard(self, folder: str | Path) -> list[Path]:
        written = self.store.export_tensorboard(self.ticked_ids(), folder)
        self.message.emit(f"wrote {len(written)} TensorBoard run(s) to {folder}: tensorboard --logdir {folder}")
        return written

    def export_csv(self, path: str | Path) -> Path:
        out = self.store.export_csv(self.ticked_ids(), path)
        self.message.emit(f"wrote {out}")
        return out

    def _export_tb_dialog(self) -> None:
        if not self.ticked_ids():
            self.message.emit("tick the runs to export first")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export to TensorBoard: choose a log folder")
        if folder:
            try:
                self.export_tensorboard(folder)
            except (OSError, ImportError) as e:
                self.message.emit(f"export failed: {e}")

    def _export_csv_dialog(self) -> None:
        if not self.ticked_ids():
            self.message.emit("tick the runs to export first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export runs as CSV", f"{self.tab}-runs.csv", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
            except OSError as e:
                self.message.emit(f"export failed: {e}")

    def export_png(self, path: str | Path) -> Path:
        from lab_app.qt.widgets.export import grab_widget, save_qimage

        return save_qimage(grab_widget(self), path)   # with plots still waiting to paint painted

    def close_store(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 24 else text[:21] + "..."
