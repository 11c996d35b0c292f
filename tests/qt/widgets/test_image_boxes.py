"""ImageBoxes: pooled box items (N visible after set_boxes, fewer after a smaller call), pixel
coordinates with y down, captions, export."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage

from lab_app.qt.widgets.image_boxes import ImageBoxes
from lab_app.qt.widgets.latent_scatter import class_color


@pytest.fixture
def view(qtbot):
    widget = ImageBoxes()
    qtbot.addWidget(widget)
    widget.resize(300, 300)
    widget.show()
    qtbot.waitExposed(widget)
    image = np.zeros((100, 120, 3), np.uint8)
    image[10:20, 30:50] = 255  # a white patch the first box outlines
    widget.set_image(image)
    return widget


BOXES = np.array([[30, 10, 50, 20], [0, 0, 60, 60], [70, 40, 110, 90]], float)


def test_set_boxes_shows_exactly_n_and_reuses_the_pool(view):
    view.set_boxes(BOXES, [0, 1, 2], [0.9, 0.5, 0.25], ["a", "b", "c"])
    assert len(view.visible_boxes()) == 3
    pool = list(view.rect_items)
    view.set_boxes(BOXES[:1], [2], [0.8])
    assert len(view.visible_boxes()) == 1
    assert view.rect_items == pool  # the same items, the extras hidden
    assert sum(t.isVisible() for t in view.text_items) == 1
    view.clear_boxes()
    assert view.visible_boxes() == []


def test_boxes_and_captions_match_inputs(view):
    view.set_boxes(BOXES, [0, 1, 2], [0.9, 0.5, 0.25], ["a", "b", "c"])
    rect = view.visible_boxes()[2]
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == (70, 40, 110, 90)
    assert view.rect_items[2].pen().color().getRgb()[:3] == class_color(2)
    assert [view.caption(i) for i in range(3)] == ["a 0.90", "b 0.50", "c 0.25"]
    assert view.text_items[0].textItem.toPlainText() == "a 0.90"


def test_y_axis_points_down_so_pixels_match(view):
    assert view.view_box.yInverted()
    # Image pixel (x=35, y=15) is in the white patch; the view point (35.5, 15.5) is its centre.
    scene_point = view.view_box.mapViewToScene(QPointF(35.5, 15.5))
    local = view.image_item.mapFromScene(scene_point)
    assert int(local.x()) == 35 and int(local.y()) == 15
    assert (view.image()[int(local.y()), int(local.x())] == 255).all()
    top = view.view_box.mapViewToScene(QPointF(0, 0)).y()
    bottom = view.view_box.mapViewToScene(QPointF(0, 100)).y()
    assert top < bottom  # row 0 is drawn above row 100


def test_export(view, tmp_path):
    view.set_boxes(BOXES[:2], [0, 1], None, ["a", "b"])
    lines = view.export_data(tmp_path / "boxes.csv").read_text().splitlines()
    assert lines == ["x0,y0,x1,y1,label,class,score", "30,10,50,20,0,a,", "0,0,60,60,1,b,"]
    image = QImage(str(view.export_png(tmp_path / "boxes.png")))
    pixels = np.array([image.pixel(x, y) & 0xFFFFFF for x in range(0, image.width(), 3)
                       for y in range(0, image.height(), 3)])
    assert pixels.std() > 0


def test_bad_input(view):
    with pytest.raises(ValueError):
        view.set_image(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ValueError):
        view.set_boxes(BOXES, [0, 1])
