"""TokenMapView: each token's code number is drawn in its cell (white, centred); a token not drawn
yet shows none."""

import numpy as np
from PySide6.QtCore import QPointF

from lab_app.topics.vq.token_views import TokenMapView


def test_each_token_shows_its_code_in_its_cell(qtbot):
    view = TokenMapView("tokens")
    qtbot.addWidget(view)
    view.resize(300, 300)
    view.show()
    qtbot.waitExposed(view)
    codes = np.array([[7, 7, 12], [3, -1, 511], [0, 7, 3]])
    view.set_tokens(codes)
    assert view.labels.texts() == [["7", "7", "12"], ["3", "", "511"], ["0", "7", "3"]]
    image = view.grab().toImage()

    def white_near(row, col) -> int:
        p = view.plot_widget.mapFromScene(view.view_box.mapViewToScene(QPointF(col + 0.5, row + 0.5)))
        return sum(min(image.pixelColor(int(p.x()) + dx, int(p.y()) + dy).getRgb()[:3]) > 200
                   for dx in range(-8, 9) for dy in range(-6, 7))

    assert white_near(1, 2) > 5 and white_near(0, 0) > 2     # "511" and "7" drawn at their cells
    assert white_near(1, 1) == 0                             # not drawn yet: dark, no number
    view.set_tokens(np.full((3, 3), -1))
    image = view.grab().toImage()
    assert white_near(1, 2) == 0
