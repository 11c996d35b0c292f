"""Image panels of the VQ tab: the VAE tab's ImagePanel, kept fitted to its panel when the layout resizes."""

from __future__ import annotations

import numpy as np

from lab_app.topics.vae.views import ImagePanel


class FitImagePanel(ImagePanel):
    """An ImagePanel whose view follows the image: pyqtgraph re-fits it on every resize, so an image set
    before the splitters settle is never left cut off."""

    def set_image(self, image: np.ndarray, extent: tuple | None = None) -> None:
        super().set_image(image, extent)
        self.view_box.enableAutoRange()
