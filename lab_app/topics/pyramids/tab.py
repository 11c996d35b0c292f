"""The "Pyramids & small objects" tab, in two sub-tabs:

- Image vs feature pyramid (fpn_panel.py): single level, image pyramid, FPN and SNIP detectors
  trained live on the same scenes, level by level.
- Faces (MTCNN) (faces_panel.py): the P-Net / R-Net / O-Net cascade over an image pyramid against
  scikit-image's LBP cascade.

Each sub-tab is a panel with its own runner(s) that keeps this small interface:
``start_demo()``, ``open_path(path)``, ``views() -> dict``, ``run_config()``, and a ``ready`` signal
emitted once its demo has drawn a real result. A photo opened or dropped goes to both sub-tabs, the
one on screen first (each shows what it finds on the photo; a photo given to one only would leave the
other on its demo or empty). The tab shows a result (``result_shown``) once the sub-tab on screen has
drawn its demo; its demo is done (``demo_ready``, what --screenshot waits for) when both have."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QTabWidget, QVBoxLayout

from lab_app.qt.tab_base import TopicTab
from lab_app.topics.pyramids.faces_panel import FacesPanel  # imported with this module, off the UI thread
from lab_app.topics.pyramids.fpn_panel import FpnPanel


class PyramidsTab(TopicTab):
    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.fpn = FpnPanel(self)
        self.faces = FacesPanel(self)
        self.subtabs = QTabWidget()
        self.subtabs.addTab(self.fpn, "Image vs feature pyramid")
        self.subtabs.addTab(self.faces, "Faces (MTCNN)")
        self.subtabs.setTabToolTip(0, "One image through a single-level detector, an image pyramid, an FPN "
                                      "and SNIP: what each level sees and finds, and what it costs")
        self.subtabs.setTabToolTip(1, "Small faces: MTCNN's cascade over an image pyramid vs a classic "
                                      "sliding-window LBP cascade")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addWidget(self.subtabs, 1)
        self._ready: set[str] = set()
        self.fpn.ready.connect(lambda: self._panel_ready("fpn"))
        self.faces.ready.connect(lambda: self._panel_ready("faces"))
        self.subtabs.currentChanged.connect(lambda _: self._shown_ready())

    def panels(self) -> dict:
        return {"fpn": self.fpn, "faces": self.faces}

    def start_demo(self) -> None:
        self.demo_started = True
        for panel in self.panels().values():
            panel.start_demo()

    def _panel_ready(self, name: str) -> None:
        self._ready.add(name)
        self._shown_ready()
        if self._ready >= set(self.panels()):
            self.demo_ready.emit()

    def _shown_ready(self) -> None:
        """The sub-tab on screen has drawn its demo: the tab shows a real result."""
        on_screen = next(n for n, p in self.panels().items() if p is self.subtabs.currentWidget())
        if on_screen in self._ready and not self.has_result:
            self.result_shown.emit()

    def open_path(self, path: Path) -> None:
        """A photo goes to both sub-tabs, the one on screen first: each starts what it needs (its
        model, its demo) and shows the photo's result, whatever state it was in."""
        current = self.subtabs.currentWidget()
        for panel in [current] + [p for p in self.panels().values() if p is not current]:
            panel.open_path(Path(path))

    def open_checkpoint(self, path: Path) -> None:
        """The pyramid detectors (single level, FPN, SNIP) saved by this tab: loaded in the worker."""
        self.subtabs.setCurrentWidget(self.fpn)
        self.fpn.load_checkpoint(Path(path))

    def screenshot_pages(self) -> list[tuple[str, object]]:
        """(suffix, show) pairs: the --screenshot mode saves one PNG per sub-tab."""
        return [("" if i == 0 else f"-{name}", lambda p=panel: self.subtabs.setCurrentWidget(p))
                for i, (name, panel) in enumerate(self.panels().items())]

    def views(self) -> dict:
        current = self.subtabs.currentWidget()
        return dict(current.views())

    def run_config(self):
        return self.subtabs.currentWidget().run_config()
