"""tile(): image i at row i // columns, column i % columns, gaps and empty cells filled."""

import numpy as np
import pytest

from lab_app.core.tiling import tile


def test_images_land_in_their_cells_with_gaps_between():
    images = np.stack([np.full((2, 3), i, np.float32) for i in range(5)])  # image i is all i
    out = tile(images, columns=3, gap=1, fill=-1.0)
    assert out.shape == (2 * 3 - 1, 3 * 4 - 1)
    for i in range(5):
        r, c = divmod(i, 3)
        assert (out[r * 3:r * 3 + 2, c * 4:c * 4 + 3] == i).all()
    assert (out[2, :] == -1).all() and (out[:, 3] == -1).all()  # the gap lines
    assert (out[3:, 8:] == -1).all()  # the sixth cell has no image


@pytest.mark.parametrize("kw,shape", [({}, (4, 4 * 5 - 1)), ({"rows": 2}, (2 * 5 - 1, 2 * 5 - 1)),
                                      ({"columns": 1, "gap": 0}, (16, 4))])
def test_rows_or_columns_decide_the_grid(kw, shape):
    assert tile(np.zeros((4, 4, 4)), **kw).shape == shape


def test_rejects_anything_but_a_stack_of_grey_images():
    with pytest.raises(ValueError, match="N, H, W"):
        tile(np.zeros((4, 4)))
