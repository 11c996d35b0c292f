"""The 3D point-cloud tab, in three sub-tabs:

- Viewer: open or drop a cloud, colour it, down-sample it with a voxel grid, estimate normals, read
  its statistics. All Open3D work runs in the tab's TaskRunner; the previous cloud stays on screen
  until the new one is ready (and stays if loading fails).
- PointNet (pointnet_panel.py): train live, classify the cloud, critical points, shuffle.
- Representations (representations_panel.py): views, voxels, points, k-NN graph of the same object.

A cloud opened or dropped goes to all three; the demo shows the procedural scene in the viewer and
a shape classified by the shipped PointNet checkpoint (or one trained on the spot without it)."""

from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lab_app.io.pointcloud import MESH_EXTENSIONS, POINT_CLOUD_EXTENSIONS, PointCloud, save_point_cloud
from lab_app.qt.layout import side_panel_split
from lab_app.qt.tab_base import TopicTab
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.qt.widgets.pointcloud_view import PointCloudView
from lab_app.topics.pointcloud import pointnet_task, task
from lab_app.topics.pointcloud.pointnet_panel import PointNetPanel
from lab_app.topics.pointcloud.pointnet_task import CHECKPOINT  # noqa: F401  (where tests look for it)
from lab_app.topics.pointcloud.representations_panel import RepresentationsPanel

IDEA = """
<b>Point clouds</b>: a 3D object as an unordered set of points
<i>P</i> = {<i>p</i><sub>1</sub>, ..., <i>p</i><sub>N</sub>}, <i>p</i><sub>i</sub> &isin; R<sup>3</sup>.
No grid, no order: the same object can be listed in N! ways, which is why networks for points use
<i>symmetric</i> functions (max-pool over points, PointNet).<br><br>
<b>Voxel down-sampling</b> averages every point inside each cube of side <i>v</i>: the cloud keeps its
shape while the count falls roughly with 1/<i>v</i><sup>2</sup> on surfaces.
<b>Normals</b> come from the smallest principal direction of each point's <i>k</i> nearest neighbours.
"""

FILE_FILTER = "Point clouds and meshes ({});;All files (*)".format(
    " ".join(f"*{e}" for e in POINT_CLOUD_EXTENSIONS + MESH_EXTENSIONS))

DEMO_POINTS = 300_000
DEMO_SHAPE = "arrow"


class PointCloudTab(TopicTab):
    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.original: PointCloud | None = None  # as loaded (before down-sampling)
        self.shown: PointCloud | None = None  # what the view draws
        self.stats: task.CloudStats | None = None
        self._pending = ""  # what the running task will produce: "load" | "voxel" | "normals"
        self._normals_estimated = False  # the shown normals came from "Estimate normals"
        self._demo_parts: set[str] = set()   # "scene", "pointnet": demo_ready once both are drawn
        self._build()
        self.runner.finished.connect(self._on_finished)
        self.runner.errored.connect(self._on_errored)

    # --- layout -----------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.view = PointCloudView()
        self.view.setToolTip("Drag to orbit, right-drag or wheel to zoom, middle-drag to pan")

        self.side = side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(self.idea_label(IDEA))

        cloud_box = QGroupBox("Cloud")
        cl = QVBoxLayout(cloud_box)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open...")
        self.open_button.setToolTip("Open a point cloud or mesh (Ctrl+O); you can also drop files anywhere")
        self.open_button.clicked.connect(self._open_dialog)
        self.demo_button = QPushButton("Demo scene")
        self.demo_button.setToolTip("Back to the procedural demo scene")
        self.demo_button.clicked.connect(self.start_demo)
        self.save_button = QPushButton("Save as...")
        self.save_button.setToolTip("Save the cloud as shown (after down-sampling and normals): PLY, PCD or NPY")
        self.save_button.clicked.connect(self._save_dialog)
        for b in (self.open_button, self.demo_button, self.save_button):
            buttons.addWidget(b)
        cl.addLayout(buttons)
        self.source_label = QLabel("-")
        self.source_label.setWordWrap(True)
        cl.addWidget(self.source_label)
        self.stats_label = QLabel()
        self.stats_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Reserve the seven lines up front: the scroll area does not always grow when the text arrives.
        self.stats_label.setMinimumHeight(self.stats_label.fontMetrics().lineSpacing() * 7 + 8)
        self.stats_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        cl.addWidget(self.stats_label)
        col.addWidget(cloud_box)

        knobs = QGroupBox("Display, down-sampling, normals")
        kl = QVBoxLayout(knobs)
        self.params = ParamPanel(task.ViewerConfig())
        self.params.live_changed.connect(self._live_changed)
        self.params.restart_changed.connect(self._restart_changed)
        kl.addWidget(self.params)
        row = QHBoxLayout()
        row.addWidget(QLabel("Points shown"))
        self.count_label = QLabel("-")
        self.count_label.setWordWrap(True)
        self.count_label.setMinimumHeight(self.count_label.fontMetrics().lineSpacing() * 2 + 4)
        row.addWidget(self.count_label, 1)
        kl.addLayout(row)
        self.normals_button = QPushButton("Estimate normals")
        self.normals_button.setToolTip("Fit a plane to each point's k nearest neighbours; colour by normals")
        self.normals_button.clicked.connect(self._estimate_normals)
        kl.addWidget(self.normals_button)
        col.addWidget(knobs)
        col.addStretch(1)

        split = side_panel_split(side, self.view, 360)

        self.pointnet = PointNetPanel(self.banner, self.add_runner(), self.add_runner(), self.ctx.seed)
        self.pointnet.classified.connect(self._on_classified)
        self.pointnet.cloud_prepared.connect(lambda pts: self.representations.set_cloud(pts))
        self.representations = RepresentationsPanel(self.add_runner())
        self.subtabs = QTabWidget()
        self.subtabs.addTab(split, "Viewer")
        self.subtabs.addTab(self.pointnet, "PointNet")
        self.subtabs.addTab(self.representations, "Representations")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.banner)
        lay.addWidget(self.subtabs, 1)

    # --- actions -------------------------------------------------------------------------------------
    def start_demo(self) -> None:
        self.demo_started = True
        self.banner.clear()
        self._pending = "load"
        self.runner.start(partial(task.demo, DEMO_POINTS, self.ctx.seed), label="demo scene")
        self._start_pointnet_demo()

    def _start_pointnet_demo(self) -> None:
        """Show a shape (made in the worker) classified by the shipped checkpoint; without one, train
        (about a minute)."""
        self.subtabs.setCurrentWidget(self.pointnet)
        self.pointnet.ensure_model()
        self._show_demo_object()

    def _show_demo_object(self) -> None:
        self.pointnet.set_cloud(partial(pointnet_task.demo_cloud, DEMO_SHAPE, self.ctx.seed + 7), DEMO_SHAPE)

    def open_checkpoint(self, path: Path) -> None:
        """A PointNet checkpoint dropped or opened: load it in the PointNet sub-tab and classify the
        cloud there (the demo shape when there is none yet)."""
        self.demo_started = True
        if self.shown is None and not self.runner.busy:     # the viewer's demo scene too, not an empty view
            self._pending = "load"
            self.runner.start(partial(task.demo, DEMO_POINTS, self.ctx.seed), label="demo scene")
        self.subtabs.setCurrentWidget(self.pointnet)
        self.pointnet.load_model(path)
        if self.pointnet.cloud is None:
            self._show_demo_object()

    def _on_classified(self, _result) -> None:
        self._demo_part_done("pointnet")

    def _demo_part_done(self, part: str) -> None:
        if self.demo_done:
            return
        self._demo_parts.add(part)
        if {"scene", "pointnet"} <= self._demo_parts:
            self.demo_ready.emit()

    def open_path(self, path: Path) -> None:
        self.demo_started = True
        self.banner.clear()  # messages about the previous file no longer apply
        self._pending = "load"
        self.runner.start(partial(task.load, Path(path)), label=f"loading {Path(path).name}")

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open point cloud", "", FILE_FILTER)
        if path:
            self.window().open_files([path]) if hasattr(self.window(), "open_files") else self.open_path(Path(path))

    def _save_dialog(self) -> None:
        if self.shown is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save cloud", "cloud.ply", "PLY (*.ply);;PCD (*.pcd);;NumPy (*.npy)")
        if path:
            try:
                save_point_cloud(path, self.shown)
                self.status_message.emit(f"saved {len(self.shown):,} points to {path}")
            except (OSError, ValueError) as e:
                self.banner.show_message(f"could not save: {e}", "error")

    @property
    def config(self) -> task.ViewerConfig:
        return self.params.config

    def voxel_size(self) -> float:
        """The knob's percentage turned into a length for the current cloud."""
        if self.original is None:
            return 0.0
        return self.config.voxel_percent / 100.0 * task.cloud_stats(self.original).diagonal

    def _live_changed(self, name: str, value) -> None:
        if name == "point_size":
            self.view.set_point_size(float(value))
        else:
            self._redraw(reset_camera=False)

    def _restart_changed(self, name: str, value) -> None:
        if name == "voxel_percent":
            self._downsample()
        elif name == "neighbours" and self._normals_estimated:
            self._estimate_normals()

    def _downsample(self) -> None:
        if self.original is None:
            return
        self._pending = "voxel"
        self._normals_estimated = False
        # Latest wins: a new value cancels the previous down-sampling run.
        self.runner.start(partial(task.voxel_downsample, self.original, self.voxel_size()), label="down-sampling")

    def _estimate_normals(self) -> None:
        if self.shown is None:
            return
        self._pending = "normals"
        self.runner.start(partial(task.estimate_normals, self.shown, self.config.neighbours),
                          label="estimating normals")

    # --- results -------------------------------------------------------------------------------------
    def _on_finished(self, result) -> None:
        if not isinstance(result, task.Loaded):
            return
        kind = self._pending
        first = self.shown is None
        if kind == "load":
            self.original = result.cloud
            self._normals_estimated = False
            self.source_label.setText(Path(result.cloud.source).name if result.cloud.source else "-")
            self.source_label.setToolTip(result.cloud.source)
            self.params.set_config(replace(self.config, voxel_percent=0.0))
        if kind == "normals":
            self._normals_estimated = True
            self.params.set_config(replace(self.config, color_mode="normals"))
        self.shown = result.cloud
        self.stats = result.stats
        self.stats_label.setText("\n".join(result.stats.lines()))
        total = len(self.original) if self.original is not None else len(result.cloud)
        self._redraw(reset_camera=(kind == "load" or first))
        text = f"{len(result.cloud):,} of {total:,}"
        cap = self.view.still_cap()
        if cap is not None and len(result.cloud) > cap:
            text += f" (software OpenGL: drawing a random {cap:,})"
        self.count_label.setText(text)
        for note in result.notes:
            self.status_message.emit(note)
        if kind == "load":
            if result.cloud.source.startswith("demo scene"):
                self._demo_part_done("scene")
            else:
                # A real cloud: classify it (with the shipped model if there is none yet) and show its
                # representations (the scene is not an object).
                self.pointnet.ensure_model()
                self.pointnet.set_cloud(result.cloud.points, Path(result.cloud.source).name)
                self._demo_parts.add("scene")

    def _on_errored(self, message: str) -> None:
        # The banner already shows it (TopicTab); what was on screen stays.
        self.status_message.emit(message)

    def _redraw(self, reset_camera: bool = False) -> None:
        if self.shown is None:
            return
        cfg = self.config
        colors, used = task.colors_for(self.shown, cfg.color_mode)
        if used != cfg.color_mode and cfg.color_mode != "auto":
            self.status_message.emit(f"no {cfg.color_mode} in this cloud: colouring by {used}")
        self.view.set_cloud(self.shown.points, colors, reset_camera=reset_camera)
        self.view.set_point_size(cfg.point_size)

    def views(self):
        return {"cloud": self.view, "pointnet_cloud": self.pointnet.view, "probabilities": self.pointnet.bars,
                "curves": self.pointnet.curve, "confusion": self.pointnet.confusion,
                "representations": self.representations}

    def run_config(self):
        return {
            **asdict(self.config),
            "seed": self.ctx.seed,        # the demo scene's and the demo cloud's
            "source": self.shown.source if self.shown is not None else None,
            "points_shown": len(self.shown) if self.shown is not None else 0,
            "pointnet": asdict(self.pointnet.config),
            # the PointNet on screen may be the shipped one, trained with another seed
            "pointnet_model_trained_with_seed": (self.pointnet.trained.train_config.get("seed")
                                                 if self.pointnet.trained is not None else None),
        }
