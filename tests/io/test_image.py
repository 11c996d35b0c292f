"""Image reader: formats and modes convert to uint8 (H, W, 3); bad files raise LoadError."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from lab_app.io import LoadError, load_image
from lab_app.io import image as image_module

RNG = np.random.default_rng(2)
RGB = RNG.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)


def load_error(path) -> str:
    with pytest.raises(LoadError) as info:
        load_image(path)
    msg = str(info.value)
    assert msg.startswith(f"{path.name}: "), msg
    return msg


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_round_trip(tmp_path, ext):
    path = tmp_path / f"im{ext}"
    Image.fromarray(RGB).save(path, **({"lossless": True} if ext == ".webp" else {}))
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (24, 32, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)


def test_jpeg_is_close(tmp_path):
    smooth = np.zeros((32, 32, 3), np.uint8)
    smooth[..., 0] = 200
    smooth[..., 1] = np.arange(32)[None, :] * 4
    Image.fromarray(smooth).save(tmp_path / "im.jpg", quality=95)
    out = load_image(tmp_path / "im.jpg")
    assert out.shape == (32, 32, 3)
    assert np.abs(out.astype(int) - smooth).mean() < 3


def test_grayscale_png(tmp_path):
    g = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (16, 16, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], g)


def test_rgba_png_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)    # opaque red
    rgba[0, 1] = (0, 0, 255, 0)      # fully transparent: white
    rgba[1, 0] = (0, 0, 0, 128)      # half-transparent black: mid grey
    rgba[1, 1] = (0, 255, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png").astype(int)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert all(abs(v - 127) <= 1 for v in out[1, 0])
    assert out[1, 1].tolist() == [0, 255, 0]


def test_16_bit_png_keeps_its_meaning(tmp_path):
    a = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    out = load_image(tmp_path / "d.png")
    assert out.shape == (1, 4, 3)
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_palette_png(tmp_path):
    im = Image.new("P", (3, 1))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    im.putdata([0, 1, 2])
    im.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    assert load_image(tmp_path / "p.png")[0].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def test_palette_png_with_transparency(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([10, 20, 30, 40, 50, 60] + [0] * (256 * 3 - 6))
    im.putdata([0, 1])
    im.save(tmp_path / "pt.png", transparency=0)
    assert load_image(tmp_path / "pt.png")[0].tolist() == [[255, 255, 255], [40, 50, 60]]


def test_float_tiff_is_stretched(tmp_path):
    f = np.array([[-1.0, 0.0, 1.0, np.nan]], dtype=np.float32)
    Image.fromarray(f, "F").save(tmp_path / "f.tif")
    assert load_image(tmp_path / "f.tif")[0, :, 0].tolist() == [0, 128, 255, 0]


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(RGB)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    assert load_image(tmp_path / "rot.jpg").shape == (32, 24, 3)


def test_decompression_bomb_is_refused_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)  # a few KB on disk, 400 megapixels decoded
    assert path.stat().st_size < 1_000_000

    def no_decode(self, *a, **k):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(Image.Image, "load", no_decode)
    t0 = time.perf_counter()
    msg = load_error(path)
    assert time.perf_counter() - t0 < 2.0
    assert "20000" in msg and "megapixels" in msg or "decompression bomb" in msg


def test_our_limit_applies_below_pillows(tmp_path):
    # 9000 x 9000 = 81 MP: under Pillow's own error threshold, over the lab's 64 MP.
    path = tmp_path / "big.png"
    Image.new("L", (9000, 9000)).save(path)
    msg = load_error(path)
    assert "9000 x 9000" in msg and "megapixels" in msg
    # And the limit is a parameter.
    Image.new("L", (100, 100)).save(tmp_path / "small.png")
    with pytest.raises(LoadError, match="megapixels"):
        image_module.load_image(tmp_path / "small.png", max_pixels=5000)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(tmp_path, fmt):
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert "truncated or corrupt" in load_error(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "text.png"
    path.write_text("just text")
    assert "not an image" in load_error(path)


def test_empty_and_directory(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    assert "empty" in load_error(tmp_path / "e.png")
    (tmp_path / "d.png").mkdir()
    assert "folder" in load_error(tmp_path / "d.png")
