"""ImageBoxes: N boxes drawn after set_boxes (fewer after a smaller call), in their class colours
with their captions on screen, pixel coordinates with y down, export."""

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


def test_set_boxes_shows_exactly_n(view):
    view.set_boxes(BOXES, [0, 1, 2], [0.9, 0.5, 0.25], ["a", "b", "c"])
    assert len(view.visible_boxes()) == 3
    view.set_boxes(BOXES[:1], [2], [0.8])
    assert len(view.visible_boxes()) == 1
    view.clear_boxes()
    assert view.visible_boxes() == []


def screen(view) -> QImage:
    view.plot_widget.scene().update()
    return view.grab().toImage()


def at(view, x: float, y: float) -> tuple[int, int]:
    """Widget pixel of view (image) point (x, y)."""
    p = view.plot_widget.mapFromScene(view.view_box.mapViewToScene(QPointF(x, y)))
    return int(round(p.x())), int(round(p.y()))


def rgb(image: QImage, xy: tuple[int, int]) -> tuple[int, int, int]:
    c = image.pixelColor(*xy)
    return c.red(), c.green(), c.blue()


def test_boxes_and_captions_are_drawn_as_given(view):
    view.set_boxes(BOXES, [0, 1, 2], [0.9, 0.5, 0.25], ["a", "b", "c"])
    rect = view.visible_boxes()[2]
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == (70, 40, 110, 90)
    assert [view.box_color(i) for i in range(3)] == [class_color(k) for k in range(3)]
    assert [view.caption(i) for i in range(3)] == ["a 0.90", "b 0.50", "c 0.25"]
    image = screen(view)
    # box 2's outline on screen, in class 2's colour: the middle of its left and bottom edges
    for x, y in ((70, 65), (90, 90)):
        assert rgb(image, at(view, x, y)) == class_color(2)
    inside = rgb(image, at(view, 90, 65))
    assert inside == (0, 0, 0)                      # the image shows through inside the box
    # its caption sits above its top edge, on a patch of its colour (alpha 200 over black), with
    # white text in it: somewhere in the patch's pixels there is white
    x, y = at(view, 70, 40)
    patch = [rgb(image, (x + dx, y - dy)) for dx in range(2, 40) for dy in range(2, 12)]
    faded = tuple(round(c * 200 / 255) for c in class_color(2))
    assert sum(all(abs(a - b) <= 2 for a, b in zip(p, faded)) for p in patch) > len(patch) // 3
    assert any(min(p) > 200 for p in patch)
    # nothing drawn where box 2 would be once only box 0 is left
    view.set_boxes(BOXES[:1], [0], [0.9], ["a"])
    assert rgb(screen(view), at(view, 70, 65)) == (0, 0, 0)


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
