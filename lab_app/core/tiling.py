"""Image tiling (no Qt): several same-sized grey images in one grid, for a single ImageItem.

One ImageItem with one tiled array draws far faster than one item per image, and the grid's
``gap`` lines keep neighbouring, similar images (digits, depth maps) from running into one another."""

from __future__ import annotations

import numpy as np


def tile(images, columns: int | None = None, rows: int | None = None, gap: int = 1,
         fill: float = 0.25) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) images -> one (rows*(H+gap)-gap, columns*(W+gap)-gap[, C]) float32 image.

    Image i sits at row ``i // columns``, column ``i % columns``. Give ``columns`` or ``rows``
    (the other follows from N); neither: one row. Cells past the last image and the gaps hold
    ``fill``."""
    images = np.asarray(images, np.float32)
    if images.ndim not in (3, 4):
        raise ValueError(f"tile expects (N, H, W) or (N, H, W, C) images, got shape {images.shape}")
    n, h, w = images.shape[:3]
    if columns is None:
        columns = -(-n // rows) if rows else max(n, 1)
    columns = max(int(columns), 1)
    rows = max(-(-n // columns), 1)
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, *images.shape[3:]), fill, np.float32)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = im
    return out
