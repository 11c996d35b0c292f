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
    assert view.labels.grid_texts() == [["7", "7", "12"], ["3", "", "511"], ["0", "7", "3"]]
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


def test_each_code_has_one_colour_of_its_own_and_undrawn_tokens_are_dark():
    import colorsys

    from lab_app.topics.vq.token_views import code_colors

    codes = np.array([[7, 7, 12], [3, -1, 511], [0, 7, 3]])
    colors = code_colors(codes)
    assert colors.shape == (3, 3, 3) and colors.dtype == np.float32
    for k in (0, 3, 7, 12, 511):   # the same colour wherever the code is, from its golden-ratio hue
        expected = colorsys.hls_to_rgb((k * 0.6180339887) % 1.0, 0.45 + 0.15 * (k % 3) / 2, 0.75)
        assert np.allclose(colors[codes == k], expected, atol=1e-6)
    assert np.allclose(colors[1, 1], 0.08)
    assert len({tuple(np.round(c, 4)) for c in colors.reshape(-1, 3)}) == 6   # five codes and the dark one
    assert np.array_equal(code_colors(codes[::-1]), colors[::-1])   # a code's colour: its own, not its place
    assert code_colors(np.zeros((0, 4), np.int64)).shape == (0, 4, 3)
