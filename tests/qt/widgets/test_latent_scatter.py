"""LatentScatter: the raster shows class colours where the points are, follows zoom, and picks points."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from lab_app.qt.widgets.latent_scatter import LatentScatter, class_color


@pytest.fixture
def scatter(qtbot):
    widget = LatentScatter(point_size=1)
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def three_points():
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [0.25, 0.75]], np.float32)
    return xy, np.array([0, 1, 2])


def rgb_at(scatter, x, y):
    row, col = scatter.view_to_pixel(x, y)
    return tuple(int(c) for c in scatter.rendered_rgba()[row, col])


def test_each_point_has_its_class_colour_and_the_rest_is_background(scatter):
    xy, labels = three_points()
    scatter.setData(xy, labels, ["a", "b", "c"])
    scatter.render_now()
    for (x, y), k in zip(xy, labels, strict=True):
        assert rgb_at(scatter, x, y) == (*class_color(k), 255)
    image = scatter.rendered_rgba()
    assert (image[..., 3] > 0).sum() == 3  # size 1: exactly one pixel per point, nothing else drawn
    assert np.array_equal(scatter.image_item.image, image)  # what the item shows


def test_point_size_stamps_more_pixels(scatter):
    xy, labels = three_points()
    scatter.setData(xy, labels)
    scatter.set_point_size(3)
    scatter.render_now()
    assert (scatter.rendered_rgba()[..., 3] > 0).sum() > 3 * 4


def test_first_set_data_ranges_to_the_data_later_calls_keep_the_zoom(scatter):
    xy, labels = three_points()
    scatter.setData(xy, labels)
    (x0, x1), (y0, y1) = scatter.view_box.viewRange()
    assert x0 < 0 < 1 < x1 and y0 < 0 < 1 < y1
    scatter.view_box.setRange(xRange=(0.5, 1.5), yRange=(0.5, 1.5), padding=0)
    scatter.setData(xy * 10, labels)
    assert scatter.view_box.viewRange()[0] == pytest.approx([0.5, 1.5])
    scatter.setData(xy * 10, labels, follow=True)
    assert scatter.view_box.viewRange()[0][1] > 10


def test_zoom_changes_what_is_rendered(scatter, qtbot):
    xy, labels = three_points()
    scatter.setData(xy, labels)
    scatter.render_now()
    assert (scatter.rendered_rgba()[..., 3] > 0).sum() == 3
    scatter.view_box.setRange(xRange=(0.9, 1.1), yRange=(0.9, 1.1), padding=0)
    # The range change schedules one render through the zero-interval timer.
    qtbot.waitUntil(lambda: (scatter.rendered_rgba()[..., 3] > 0).sum() == 1, timeout=1000)
    assert rgb_at(scatter, 1.0, 1.0) == (*class_color(1), 255)
    assert scatter.image_item.mapRectToView(scatter.image_item.boundingRect()).left() == pytest.approx(0.9)


def test_non_finite_points_are_skipped_not_fatal(scatter):
    xy = np.array([[0, 0], [np.nan, 1], [np.inf, 0], [1, 1]], np.float32)
    scatter.setData(xy, [0, 1, 2, 3])
    scatter.render_now()
    assert (scatter.rendered_rgba()[..., 3] > 0).sum() == 2


def test_hover_near_a_point_emits_its_index_and_far_away_emits_minus_one(scatter, qtbot):
    xy, labels = three_points()
    scatter.setData(xy, labels)
    scatter.render_now()
    scene = scatter.plot_widget.scene()
    near = scatter.view_box.mapViewToScene(pg_point(0.25, 0.75)) + pg_point(3, -2)
    with qtbot.waitSignal(scatter.hovered, timeout=1000) as blocker:
        scene.sigMouseMoved.emit(near)
    assert blocker.args == [2]
    far = scatter.view_box.mapViewToScene(pg_point(0.6, 0.3))
    with qtbot.waitSignal(scatter.hovered, timeout=1000) as blocker:
        scene.sigMouseMoved.emit(far)
    assert blocker.args == [-1]


def test_index_at_measures_in_pixels(scatter):
    xy, labels = three_points()
    scatter.setData(xy, labels)
    scatter.render_now()
    assert scatter.index_at(1.0, 1.0) == 1
    (x0, x1), _ = scatter.view_box.viewRange()
    units_per_px = (x1 - x0) / scatter.rendered_rgba().shape[1]
    assert scatter.index_at(1.0 - 5 * units_per_px, 1.0) == 1
    assert scatter.index_at(1.0 - 20 * units_per_px, 1.0) == -1


def test_legend_names_the_classes_in_their_colours(scatter):
    xy, labels = three_points()
    scatter.setData(xy, labels, ["cat", "dog", "eel"])
    expected = [("cat", class_color(0)), ("dog", class_color(1)), ("eel", class_color(2))]
    assert scatter.legend_entries() == expected
    assert "dog" in scatter.legend_label.text()
    r, g, b = class_color(1)
    assert f"#{r:02x}{g:02x}{b:02x}" in scatter.legend_label.text()


def test_export_png_and_data(scatter, tmp_path):
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(5000, 2)).astype(np.float32)
    scatter.setData(xy, rng.integers(0, 10, 5000))
    path = scatter.export_png(tmp_path / "scatter.png")
    image = QImage(str(path))
    pixels = np.array([image.pixel(x, y) & 0xFFFFFF for x in range(0, image.width(), 4)
                       for y in range(0, image.height(), 4)])
    assert pixels.std() > 0
    table = np.load(scatter.export_data(tmp_path / "points.npy"))
    assert table.shape == (5000, 3) and np.allclose(table[:, :2], xy)
    csv = (scatter.export_data(tmp_path / "points.csv")).read_text().splitlines()
    assert csv[0] == "x,y,label,class" and len(csv) == 5001


def test_bad_shapes_are_rejected(scatter):
    with pytest.raises(ValueError):
        scatter.setData(np.zeros((3, 3)))
    with pytest.raises(ValueError):
        scatter.setData(np.zeros((3, 2)), [0, 1])


def pg_point(x, y):
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_points_at_every_edge_render_without_index_errors(qtbot, size):
    """Points just inside and just outside each edge used to write past the canvas for size >= 2."""
    from lab_app.qt.widgets.latent_scatter import LatentScatter

    w = LatentScatter(point_size=size)
    qtbot.addWidget(w)
    w.resize(300, 200)
    w.show()
    w.setData(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1]))
    w.view_box.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.0)
    w.render_now()
    (x0, x1), (y0, y1) = w.view_box.viewRange()
    eps = 1e-6 * (x1 - x0)
    edge = np.array([[x0 - eps, y0], [x1 - eps, y1 - eps], [x1 + eps, y0], [x0, y1 + eps],
                     [x1 - eps, y0 + (y1 - y0) / 2], [x0 + (x1 - x0) / 2, y1 - eps]])
    w.setData(edge, np.arange(len(edge)) % 3)
    w.view_box.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.0)
    w.render_now()
    rgba = w.rendered_rgba()
    assert rgba[..., 3].any(), "edge points inside the view must be drawn"
