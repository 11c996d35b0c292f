"""Procedural detection scenes with exact ground truth (no Qt, no download).

Each scene is a cluttered, noisy background with 1..N shapes (circle, square, triangle, star, ring)
painted on it in random colours and textures, at sizes from a few pixels to half the image. Shapes
painted later may cover earlier ones (occlusion), but never hide more than ``max_occlusion`` of an
earlier shape's pixels, and a shape's colours differ from what it covers by at least
``min_contrast``, so every box still names something one can see.

The box of a shape is the tight box of the pixels its own mask paints, COCO-style ``x0, y0, x1, y1``
with ``x1 = last column + 1`` (pixel (c, r) covers [c, c+1) x [r, r+1)). Everything is deterministic
by seed: ``make_scene(cfg, seed)`` gives the same image and boxes every time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

CLASS_NAMES = ("circle", "square", "triangle", "star", "ring")


@dataclass(frozen=True)
class SceneConfig:
    size: int = 256                      # image side in pixels
    classes: int = 5                     # the first k of CLASS_NAMES
    min_objects: int = 1
    max_objects: int = 8
    small_share: float = 0.25            # share of objects drawn "small" (COCO: area < 32^2)
    min_size: int = 6                    # smallest object side in pixels
    max_size_frac: float = 0.5           # largest object side as a fraction of the image
    clutter: float = 1.0                 # 0: plain background, 1: lines, blobs and noise
    noise: float = 8.0                   # std of the per-pixel Gaussian noise (0..255 scale)
    max_occlusion: float = 0.4           # at most this share of a shape's pixels may be covered
    min_contrast: float = 48.0           # RGB distance between a shape's mean colour and what it covers

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES[: self.classes]


@dataclass(frozen=True)
class Scene:
    image: np.ndarray                    # (H, W, 3) uint8
    boxes: np.ndarray                    # (N, 4) float32, x0 y0 x1 y1 in pixels
    labels: np.ndarray                   # (N,) int64, index into class_names
    instance_map: np.ndarray = field(repr=False)  # (H, W) int16: -1 background, i: shape i visible


# --- shapes ------------------------------------------------------------------------------------------


def shape_mask(kind: str, h: int, w: int, angle: float = 0.0) -> np.ndarray:
    """Boolean (h, w) mask of a shape inscribed in an h x w window (pixel centres sampled)."""
    if kind == "square":
        return np.ones((h, w), bool)
    # Coordinates once per row / column instead of over an np.mgrid: the same float32 operations,
    # so every pixel gets bit for bit the same value, at a fraction of the cost.
    u1 = (np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1       # -1..1 across the window
    v1 = (np.arange(h, dtype=np.float32) + 0.5) / h * 2 - 1
    if kind == "triangle":                          # apex up: half-width grows from 0 to 1 downwards
        # + half a pixel: the apex row is never empty (comparisons broadcast exactly)
        return np.abs(u1)[None, :] <= ((v1 + 1) / 2 + 1.0 / w)[:, None]
    if kind not in ("circle", "ring", "star"):
        raise ValueError(f"unknown shape {kind!r}")
    # hypot / arctan2 get full contiguous operands: numpy may pick another (SIMD) loop for
    # broadcast operands, whose last-bit rounding could move a pixel across the shape's edge.
    u = np.empty((h, w), u1.dtype)                  # float64 if h or w came as a numpy integer
    v = np.empty((h, w), v1.dtype)
    u[:] = u1
    v[:] = v1[:, None]
    r = np.hypot(u, v)
    if kind == "circle":
        return r <= 1.0
    if kind == "ring":
        return (r <= 1.0) & (r >= 0.55)
    # star: 5 points, inner radius 0.45
    theta = np.arctan2(v, u) + angle
    k = 5
    frac = np.abs(((theta * k / np.pi) % 2) - 1)  # 1 at a point, 0 between two points
    return r <= 0.45 + 0.55 * frac


def _texture_draw(rng: np.random.Generator, h: int, w: int):
    """The random part of a texture: ``(base, other, t)`` with float32 colours and an (h, w) float32
    blend map ``t`` (colour = base * (1 - t) + other * t), or ``t = None`` for a solid texture."""
    base = rng.uniform(0, 255, 3)
    base[rng.integers(3)] = rng.choice([rng.uniform(0, 60), rng.uniform(200, 255)])  # saturated
    other = 255 - base if rng.random() < 0.5 else base * 0.5
    kind = rng.integers(4)
    if kind == 0:
        t = None
    elif kind == 1:
        period = max(2, int(rng.integers(3, 8)))
        t = ((np.arange(w)[None, :] + np.arange(h)[:, None]) // period) % 2
    elif kind == 2:
        period = max(2, int(rng.integers(3, 8)))
        t = ((np.arange(w) // period)[None, :] + (np.arange(h) // period)[:, None]) % 2
    else:
        t = rng.random((h, w)) * 0.6
    if t is not None:
        t = t.astype(np.float32)
    return base.astype(np.float32), other.astype(np.float32), t


def _texture_colours(base: np.ndarray, other: np.ndarray, t: np.ndarray | None,
                     mask: np.ndarray) -> np.ndarray:
    """(3, n) float32 colours of a drawn texture at the ``mask`` pixels (row-major), channel-first:
    bit for bit ``_texture_image(...)[mask].T``, the solid case included (``other * 0`` adds
    nothing). Channel-first keeps numpy's inner loops long; (n, 3) looped over 3 values at a time."""
    if t is None:
        out = np.empty((3, int(np.count_nonzero(mask))), np.float32)
        out[:] = base[:, None]
        return out
    tm = t[mask]
    return base[:, None] * (1 - tm) + other[:, None] * tm


def _channel_means(x: np.ndarray) -> np.ndarray:
    """Mean of each row of a (3, n) float32 array, bit for bit ``np.ascontiguousarray(x.T).mean(0)``
    (the mean of the (n, 3) pixel array): numpy sums an (n, 3) array down its columns one value at a
    time, which the sequential ``accumulate`` reproduces. ``x.mean(axis=1)`` would sum pairwise and
    round differently, and a contrast test right at its threshold could then pick another texture
    than earlier versions of this module did for the same seed."""
    return np.add.accumulate(x, axis=1)[:, -1] / x.shape[1]


def _texture_image(base: np.ndarray, other: np.ndarray, t: np.ndarray | None, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float32 view of a drawn texture over its whole window."""
    if t is None:
        t = np.zeros((h, w), np.float32)
    # Channel-first arithmetic (long inner loops), returned as an (h, w, 3) view.
    chw = base[:, None, None] * (1 - t) + other[:, None, None] * t
    return chw.transpose(1, 2, 0)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float colours: solid, stripes, checks or speckle around a random saturated colour."""
    return _texture_image(*_texture_draw(rng, h, w), h, w)


def _visible_colours(rng: np.random.Generator, h: int, w: int, mask: np.ndarray, below: np.ndarray,
                     min_contrast: float, tries: int = 6):
    """The texture choice of ``_visible_texture``, given the mean colour ``below`` of what the mask
    covers. Returns ``(colours, draw)``: the (3, n) colours of the chosen texture at the mask's
    pixels and its ``(base, other, t)``. Only the masked pixels are ever computed, and their mean is
    bit for bit that of ``texture[mask]`` over the full texture."""
    best, best_d = None, -1.0
    for _ in range(tries):
        draw = _texture_draw(rng, h, w)
        cols = _texture_colours(*draw, mask)
        d = float(np.linalg.norm(_channel_means(cols) - below))
        if d >= min_contrast:
            return cols, draw
        if d > best_d:
            best, best_d = (cols, draw), d
    return best


def _visible_texture(rng: np.random.Generator, h: int, w: int, mask: np.ndarray, under: np.ndarray,
                     min_contrast: float, tries: int = 6) -> np.ndarray:
    """A texture whose mean colour over ``mask`` differs from what it covers by at least
    ``min_contrast`` (RGB distance, 0..441): a green square on green grass is no object anyone can
    see, and a box around it would teach the detector to guess. The best of ``tries`` draws."""
    below = under[mask].mean(axis=0)
    _, draw = _visible_colours(rng, h, w, mask, below, min_contrast, tries)
    return _texture_image(*draw, h, w)


@functools.lru_cache(maxsize=16)
def _upsample_plan(s: int):
    """Bilinear upsampling of 6 samples to ``s``: the left sample ``i0`` and the weights ``1 - f``
    and ``f`` of each output pixel, and the same weights as two (6, s) matrices with one non-zero
    per column: ``x @ wl`` is exactly ``x[..., i0] * (1 - f)`` (the other five terms are exact
    zeros), and ``x @ wr`` exactly ``x[..., i0 + 1] * f``."""
    pos = (np.arange(s) + 0.5) / s * 5
    i0 = np.minimum(pos.astype(int), 4)
    f = (pos - i0).astype(np.float32)
    g = 1 - f
    wl = np.zeros((6, s), np.float32)
    wr = np.zeros((6, s), np.float32)
    wl[i0, np.arange(s)] = g
    wr[i0 + 1, np.arange(s)] = f
    for arr in (i0, f, g, wl, wr):
        arr.flags.writeable = False
    return i0, f, g, wl, wr


def _background(rng: np.random.Generator, cfg: SceneConfig) -> np.ndarray:
    """(S, S, 3) float: a colour gradient plus, with clutter, low-frequency blobs and random lines."""
    s = cfg.size
    ramp = np.arange(s, dtype=np.float32) / s
    c0, c1 = rng.uniform(30, 220, 3).astype(np.float32), rng.uniform(30, 220, 3).astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)
    t = np.float32(np.cos(a)) * ramp[None, :] + np.float32(np.sin(a)) * ramp[:, None]
    t -= t.min()                                    # in place: the same float32 operations
    t /= max(float(np.ptp(t)), 1e-6)
    # Channel-first (3, S, S): numpy's inner loops run along the long axis (an (S, S, 3) layout made
    # every operation loop over 3 values at a time, 4x slower); the caller gets an (S, S, 3) view.
    img = np.multiply((c1 - c0)[:, None, None], t, out=np.empty((3, s, s), np.float32))
    img += c0[:, None, None]                                             # (3, S, S) float32
    if cfg.clutter > 0:
        # Low-frequency blobs: a coarse random grid, upsampled (no sharp edges, unlike the shapes).
        coarse = rng.normal(0, 40 * cfg.clutter, (6, 6, 3)).astype(np.float32).transpose(2, 0, 1)
        i0, f, g, wl, wr = _upsample_plan(s)           # bilinear upsampling of the 6 x 6 grid
        rows = coarse[:, i0] * g[None, :, None] + coarse[:, i0 + 1] * f[None, :, None]   # (3, S, 6)
        # Columns: rows[:, :, i0] * (1 - f) + rows[:, :, i0 + 1] * f, the same two products (bit for
        # bit) as matrix products instead of gathers over (3, S, S), which were the slowest part of
        # a scene. Row blocks of ~16k pixels keep the temporaries in cache and each product small:
        # BLAS runs a small one on this thread alone (a whole 512 x 512 product went multi-threaded
        # and ran 20x slower on a busy machine).
        step = max(1, 16384 // s)
        for r0 in range(0, s, step):
            part = rows[:, r0:r0 + step]
            left = part @ wl
            left += part @ wr
            img[:, r0:r0 + step] += left
        img = img.transpose(1, 2, 0)                                     # (S, S, 3) view
        # Thin lines: edges that are not objects.
        for _ in range(int(rng.integers(2, 7) * cfg.clutter)):
            x0, y0, x1, y1 = rng.uniform(0, s, 4)
            n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
            # np.minimum / np.maximum: np.clip's result on integers, without its slow Python wrapper
            xs = np.minimum(np.maximum(np.linspace(x0, x1, n).astype(int), 0), s - 1)
            ys = np.minimum(np.maximum(np.linspace(y0, y1, n).astype(int), 0), s - 1)
            img[ys, xs] = rng.uniform(0, 255, 3)
        return img
    return img.transpose(1, 2, 0)


def _object_side(rng: np.random.Generator, cfg: SceneConfig) -> int:
    big = max(cfg.min_size + 1, int(cfg.size * cfg.max_size_frac))
    if rng.random() < cfg.small_share:
        lo, hi = cfg.min_size, min(big, 24)          # small: area under 32^2 even with aspect
    else:
        lo, hi = min(24, big - 1), big
    return int(round(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


def make_scene(cfg: SceneConfig, seed: int) -> Scene:
    """One scene, fully determined by ``(cfg, seed)``."""
    rng = np.random.default_rng([seed, 0x5CE7E])
    s = cfg.size
    img = _background(rng, cfg)
    chw = img.transpose(2, 0, 1)                     # the channel-first buffer: long inner loops
    instance, boxes, labels, _, _ = _paint_shapes(rng, cfg, chw)
    if cfg.noise > 0:
        grain = rng.standard_normal((1, s, s), dtype=np.float32)
        grain *= np.float32(cfg.noise)               # sensor-like grain
        chw += grain
    planes = np.clip(chw, 0, 255, out=chw).astype(np.uint8)
    # Interleave to (H, W, 3) one channel at a time: a whole-array transposed copy loops over the
    # 3 channels innermost and takes 3x longer.
    image = np.empty((s, s, 3), np.uint8)
    for c in range(3):
        image[:, :, c] = planes[c]
    return Scene(image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64), instance)


def _paint_shapes(rng: np.random.Generator, cfg: SceneConfig, chw: np.ndarray):
    """Paint the shapes of a scene onto its (3, S, S) float32 background ``chw`` (in place).

    Returns ``(instance, boxes, labels, area, visible)``: the (S, S) int16 instance map, the boxes
    and labels as lists, and per shape its painted and its still visible pixel counts (arrays)."""
    s = cfg.size
    instance = np.full((s, s), -1, np.int16)
    target = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    area = np.zeros(target, np.int64)                # painted pixel count of each shape
    # Visible pixel count of each shape, kept up to date as later shapes cover it: the pixels of
    # shape j under a new shape's mask (``covered[j]``) are exactly what j loses when it is painted.
    # (Much cheaper than a bincount over the whole instance map on every try.)
    visible = np.zeros(target, np.int64)
    boxes, labels = [], []
    for _ in range(target * 10):                     # tries: a placement may hide too much of another
        k = len(boxes)
        if k == target:
            break
        label = int(rng.integers(cfg.classes))
        side = _object_side(rng, cfg)
        aspect = float(np.exp(rng.uniform(-0.35, 0.35)))
        h = min(max(round(side * aspect), cfg.min_size), s)     # np.clip's meaning, on Python ints
        w = min(max(round(side / aspect), cfg.min_size), s)
        mask = shape_mask(CLASS_NAMES[label], h, w, angle=float(rng.uniform(0, 2 * np.pi)))
        if not mask.any():
            continue
        y = int(rng.integers(0, s - h + 1))
        x = int(rng.integers(0, s - w + 1))
        window = instance[y:y + h, x:x + w]
        if k:
            covered = np.bincount(window[mask].astype(np.int64) + 1, minlength=k + 1)[1:]
            # Each earlier shape may lose at most max_occlusion of its pixels in all.
            if np.any(covered > cfg.max_occlusion * area[:k] - (area[:k] - visible[:k])):
                continue
            visible[:k] -= covered
        # Channel-first gathers and writes, one channel at a time (a 3-D patch[:, mask] is 3-5x slower).
        patch = chw[:, y:y + h, x:x + w]
        under = np.empty((3, int(np.count_nonzero(mask))), np.float32)
        for c in range(3):
            under[c] = patch[c][mask]
        cols, _ = _visible_colours(rng, h, w, mask, _channel_means(under), cfg.min_contrast)
        for c in range(3):
            patch[c][mask] = cols[c]
        window[mask] = k
        area[k] = visible[k] = cols.shape[1]
        rr = np.flatnonzero(mask.any(axis=1))
        cc = np.flatnonzero(mask.any(axis=0))
        boxes.append([x + cc[0], y + rr[0], x + cc[-1] + 1, y + rr[-1] + 1])
        labels.append(label)
    n = len(boxes)
    return instance, boxes, labels, area[:n], visible[:n]


def make_scenes(cfg: SceneConfig, count: int, seed: int = 0) -> list[Scene]:
    """``count`` scenes with seeds ``seed * 1_000_003 + i`` (disjoint sets for different seeds)."""
    return [make_scene(cfg, seed * 1_000_003 + i) for i in range(count)]


def mirror_scene(scene: Scene) -> Scene:
    """The scene mirrored left to right, boxes and instance map with it (exact: x -> S - x).

    Every shape keeps its class: circles, squares, rings and (randomly turned) stars are mirror
    symmetric as a set, and triangles are drawn apex up and symmetric about their vertical axis (up to
    the rounding of a pixel at an edge), which a left-right mirror keeps; a top-bottom mirror or a
    quarter turn would not, so training uses only this one."""
    s = scene.image.shape[1]
    boxes = scene.boxes.reshape(-1, 4)
    mirrored = np.stack([s - boxes[:, 2], boxes[:, 1], s - boxes[:, 0], boxes[:, 3]], axis=1)
    mirrored = mirrored.astype(np.float32)
    return Scene(np.ascontiguousarray(scene.image[:, ::-1]), mirrored, scene.labels.copy(),
                 np.ascontiguousarray(scene.instance_map[:, ::-1]))


def batch_arrays(scenes: list[Scene]) -> np.ndarray:
    """(B, 3, H, W) float32 in [0, 1] from a list of scenes."""
    return np.stack([sc.image for sc in scenes]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
