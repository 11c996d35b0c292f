"""The window's File > Export: the current tab's views as PNG with its run card, or the whole window.

A mixin of ``MainWindow`` (it uses ``current_tab``, ``ctx`` and the status bar)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from lab_app.core.runcard import run_card_path_for, save_run_card, tab_run_card

if TYPE_CHECKING:
    from lab_app.qt.tab_base import TopicTab


class ExportMixin:
    def export_current(self, path: str | Path) -> list[Path]:
        """Export every view of the current tab: the main view to ``path``, others to ``path-<name>.png``,
        and the run card beside them. Returns the files written."""
        tab = self.current_tab()
        path = Path(path)
        written = []
        for i, (name, widget) in enumerate(tab.views().items()):
            target = path if i == 0 else path.with_name(f"{path.stem}-{name}{path.suffix}")
            written.append(widget.export_png(target))
        written.append(save_run_card(run_card_path_for(path), self.run_card(tab)))
        return written

    def run_card(self, tab: TopicTab) -> dict:
        """What made the tab's result: the seed of its config (the window's seed is only its default),
        the device, the config."""
        return tab_run_card(tab.tab_id, tab.run_config(), window_seed=self.ctx.seed,
                            device=str(self.ctx.device))

    def export_dialog(self) -> None:
        tab = self.current_tab()
        path, _ = QFileDialog.getSaveFileName(self, "Export view", f"{tab.tab_id}.png", "PNG (*.png)")
        if path:
            try:
                files = self.export_current(path)
                self.statusBar().showMessage("wrote " + ", ".join(f.name for f in files), 8000)
            except OSError as e:
                tab.banner.show_message(f"export failed: {e}", "error")

    def export_window(self, path: str | Path) -> Path:
        from lab_app.qt.widgets.export import grab_widget, save_qimage

        return save_qimage(grab_widget(self), path)   # 3D views included (they draw in their own windows)

    def export_window_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export window", "lab.png", "PNG (*.png)")
        if path:
            try:
                self.export_window(path)
            except OSError as e:
                self.current_tab().banner.show_message(f"export failed: {e}", "error")

