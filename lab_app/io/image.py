"""Image reader: any format Pillow reads, returned as uint8 (H, W, 3) RGB.

Guards against decompression bombs by checking the declared size before any pixel is decoded;
grayscale, palette, RGBA (composited on white) and 16-bit images are converted; EXIF rotation is
applied so photos appear the right way up."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from lab_app.io.errors import LoadError, check_readable_file

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
#: Largest image accepted, in pixels (about 8000 x 8000).
MAX_PIXELS = 64_000_000


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = check_readable_file(path)
    try:
        # Pillow's own bomb check raises only above 2x its limit; ours comes first and is explicit.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            w, h = im.size
            if w * h > max_pixels:
                raise LoadError(path, f"image is {w} x {h} = {w * h / 1e6:.0f} megapixels; the lab opens "
                                      f"images up to {max_pixels / 1e6:.0f} megapixels (a decompression-bomb "
                                      "guard): scale it down first")
            if w < 1 or h < 1:
                raise LoadError(path, f"image has no pixels ({w} x {h})")
            im.load()
            im = ImageOps.exif_transpose(im)
            arr = _to_rgb(im)
    except LoadError:
        raise
    except UnidentifiedImageError:
        raise LoadError(path, "not an image Pillow can read (unknown or corrupt format)") from None
    except Image.DecompressionBombError as e:
        raise LoadError(path, f"refused as a decompression bomb ({e})") from None
    except (OSError, SyntaxError, EOFError) as e:
        raise LoadError(path, f"the image data is truncated or corrupt ({e})") from None
    except MemoryError:
        raise LoadError(path, "the image is too large to decode in the memory available") from None
    except Exception as e:  # Pillow's decoders raise many kinds (ValueError, struct.error, ...) on bad data
        raise LoadError(path, f"the image data is corrupt ({type(e).__name__}: {e})") from None
    return arr


def _to_rgb(im) -> np.ndarray:
    """uint8 (H, W, 3). 16-bit integer images keep their meaning (v * 255 / 65535); 32-bit integer
    and float images have no fixed range, so they are stretched from their minimum to their maximum."""
    from PIL import Image

    if im.mode.startswith("I;16"):
        a = np.asarray(im).astype(np.float32)
        g = np.rint(a * np.float32(255.0 / 65535.0)).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(g[..., None], 3, axis=2))
    if im.mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        finite = np.isfinite(a)
        if not finite.any():
            g = np.zeros(a.shape, dtype=np.uint8)
        else:
            lo, hi = float(a[finite].min()), float(a[finite].max())
            a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
            a = np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)
            g = (a * 255.0 + 0.5).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(g[..., None], 3, axis=2))
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def save_image(path: str | Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    from lab_app.io.atomic import atomic_save

    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return atomic_save(path, lambda tmp: Image.fromarray(arr).save(tmp))
