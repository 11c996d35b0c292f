"""Transforms tab with qtbot: paint a target with the mouse, train a few steps, the sample clouds
move; the grid and D's field are drawn; the KL panel shows both fits."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from lab_app.qt.tab_base import LabContext
from lab_app.topics.transforms import task
from lab_app.topics.transforms.tab import TransformsTab

QUICK = dict(steps=150, frame_seconds=0.0, hidden=32, shown_samples=300, field_size=16, grid_lines=5)


@pytest.fixture
def tab(qtbot):
    torch.set_num_threads(1)
    t = TransformsTab(LabContext(torch.device("cpu")))
    qtbot.addWidget(t)
    t.resize(1400, 900)
    t.show()
    qtbot.waitExposed(t)
    yield t
    assert t.shutdown()


def mouse(widget, kind, x, y, buttons):
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    pos = QPointF(x, y)
    ev = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def test_paint_a_target_then_train_moves_the_samples(tab, qtbot):
    tab.params.set_config(replace(tab.config, target="painted", **QUICK))
    tab.target_plot.set_painting(True)
    port = tab.target_plot.plot_widget.viewport()
    w, h = port.width(), port.height()
    left = Qt.MouseButton.LeftButton
    mouse(port, QEvent.Type.MouseButtonPress, w * 0.7, h * 0.3, left)
    for i in range(20):  # a stroke to the upper right of the centre
        mouse(port, QEvent.Type.MouseMove, w * 0.7 + i, h * 0.3 + i * 0.5, left)
    gan_frames = []
    tab.runner.event.connect(lambda ev: gan_frames.append(ev.samples.copy())
                             if isinstance(ev, task.TransformFrame) else None)
    with qtbot.waitSignal(tab.runner.finished, timeout=60_000):
        mouse(port, QEvent.Type.MouseButtonRelease, w * 0.7 + 19, h * 0.3 + 9.5, Qt.MouseButton.NoButton)
    qtbot.waitUntil(lambda: not tab.vae_runner.busy, timeout=60_000)
    painted = tab.painted_points()
    assert len(painted) == 21
    assert painted[:, 0].mean() > 0 and painted[:, 1].mean() > 0  # upper right in data coordinates
    # the sample cloud moved toward the painted stroke
    last = tab.gan_view.samples()
    assert np.array_equal(last, gan_frames[-1])
    centre = painted.mean(0)
    # An untrained G puts its samples around the origin; compare with that, not with the first
    # delivered frame (frames are coalesced, so the first one seen may already be part-trained).
    assert np.linalg.norm(last.mean(0) - centre) < 0.5 * np.linalg.norm(centre)
    vae_last = tab.vae_view.samples()
    assert np.linalg.norm(vae_last.mean(0) - centre) < 0.5
    # grid and field drawn, losses and distances plotted
    assert tab.gan_view.grid_lines.shape == (10, 60, 2) and tab.gan_view.field.shape == (16, 16)
    x, _ = tab.gan_view.grid_item.getData()
    assert len(x) == 600
    assert set(tab.distance_curve.names()) == {"GAN", "VAE"}
    assert "GAN:" in tab.numbers.text() and "VAE:" in tab.numbers.text()


def test_kl_panel_and_painted_without_points_says_what_to_do(tab, qtbot):
    with qtbot.waitSignal(tab.kl_runner.finished, timeout=30_000):
        tab.start_training(replace(tab.config, target="painted", **QUICK))
    assert not tab.runner.busy and "Paint the target" in tab.banner.text
    fwd, rev = tab.kl.fits
    assert abs(fwd.mu) < 0.05 and abs(rev.mu - 2.0) < 0.05
    title = tab.kl_panel.plot_item.titleLabel.text
    assert f"{fwd.kl_forward:.3f}" in title and f"{rev.kl_reverse:.3f}" in title
    _, q = tab.kl_panel.reverse_item.getData()
    assert q.max() > 0.7  # a narrow Gaussian on one mode (sigma 0.5: peak 0.8)
