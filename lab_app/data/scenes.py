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
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (u + 0.5) / w * 2 - 1                       # -1..1 across the window
    v = (v + 0.5) / h * 2 - 1
    r = np.hypot(u, v)
    if kind == "circle":
        return r <= 1.0
    if kind == "square":
        return np.ones((h, w), bool)
    if kind == "triangle":                          # apex up: half-width grows from 0 to 1 downwards
        return np.abs(u) <= (v + 1) / 2 + 1.0 / w       # + half a pixel: the apex row is never empty
    if kind == "ring":
        return (r <= 1.0) & (r >= 0.55)
    if kind == "star":                              # 5 points, inner radius 0.45
        theta = np.arctan2(v, u) + angle
        k = 5
        frac = np.abs(((theta * k / np.pi) % 2) - 1)  # 1 at a point, 0 between two points
        return r <= 0.45 + 0.55 * frac
    raise ValueError(f"unknown shape {kind!r}")


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float colours: solid, stripes, checks or speckle around a random saturated colour."""
    base = rng.uniform(0, 255, 3)
    base[rng.integers(3)] = rng.choice([rng.uniform(0, 60), rng.uniform(200, 255)])  # saturated
    other = 255 - base if rng.random() < 0.5 else base * 0.5
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == 0:
        t = np.zeros((h, w))
    elif kind == 1:
        period = max(2, int(rng.integers(3, 8)))
        t = (((xx + yy) // period) % 2).astype(float)
    elif kind == 2:
        period = max(2, int(rng.integers(3, 8)))
        t = (((xx // period) + (yy // period)) % 2).astype(float)
    else:
        t = rng.random((h, w)) * 0.6
    t = t.astype(np.float32)
    # Channel-first arithmetic (long inner loops), returned as an (h, w, 3) view.
    chw = base.astype(np.float32)[:, None, None] * (1 - t) + other.astype(np.float32)[:, None, None] * t
    return chw.transpose(1, 2, 0)


def _visible_texture(rng: np.random.Generator, h: int, w: int, mask: np.ndarray, under: np.ndarray,
                     min_contrast: float, tries: int = 6) -> np.ndarray:
    """A texture whose mean colour over ``mask`` differs from what it covers by at least
    ``min_contrast`` (RGB distance, 0..441): a green square on green grass is no object anyone can
    see, and a box around it would teach the detector to guess. The best of ``tries`` draws."""
    below = under[mask].mean(axis=0)
    best, best_d = None, -1.0
    for _ in range(tries):
        tex = _texture(rng, h, w)
        d = float(np.linalg.norm(tex[mask].mean(axis=0) - below))
        if d >= min_contrast:
            return tex
        if d > best_d:
            best, best_d = tex, d
    return best


def _background(rng: np.random.Generator, cfg: SceneConfig) -> np.ndarray:
    """(S, S, 3) float: a colour gradient plus, with clutter, low-frequency blobs and random lines."""
    s = cfg.size
    ramp = np.arange(s, dtype=np.float32) / s
    c0, c1 = rng.uniform(30, 220, 3).astype(np.float32), rng.uniform(30, 220, 3).astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)
    t = np.float32(np.cos(a)) * ramp[None, :] + np.float32(np.sin(a)) * ramp[:, None]
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    # Channel-first (3, S, S): numpy's inner loops run along the long axis (an (S, S, 3) layout made
    # every operation loop over 3 values at a time, 4x slower); the caller gets an (S, S, 3) view.
    img = c0[:, None, None] + (c1 - c0)[:, None, None] * t                # (3, S, S) float32
    if cfg.clutter > 0:
        # Low-frequency blobs: a coarse random grid, upsampled (no sharp edges, unlike the shapes).
        coarse = rng.normal(0, 40 * cfg.clutter, (6, 6, 3)).astype(np.float32).transpose(2, 0, 1)
        pos = (np.arange(s) + 0.5) / s * 5            # bilinear upsampling of the 6 x 6 grid
        i0 = np.minimum(pos.astype(int), 4)
        f = (pos - i0).astype(np.float32)
        rows = coarse[:, i0] * (1 - f)[None, :, None] + coarse[:, i0 + 1] * f[None, :, None]   # (3, S, 6)
        img += rows[:, :, i0] * (1 - f) + rows[:, :, i0 + 1] * f
        img = img.transpose(1, 2, 0)                                     # (S, S, 3) view
        # Thin lines: edges that are not objects.
        for _ in range(int(rng.integers(2, 7) * cfg.clutter)):
            x0, y0, x1, y1 = rng.uniform(0, s, 4)
            n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
            xs = np.clip(np.linspace(x0, x1, n).astype(int), 0, s - 1)
            ys = np.clip(np.linspace(y0, y1, n).astype(int), 0, s - 1)
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
    instance = np.full((s, s), -1, np.int16)
    area = []                                        # painted pixel count of each shape
    boxes, labels = [], []
    target = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    for _ in range(target * 10):                     # tries: a placement may hide too much of another
        if len(boxes) == target:
            break
        label = int(rng.integers(cfg.classes))
        side = _object_side(rng, cfg)
        aspect = float(np.exp(rng.uniform(-0.35, 0.35)))
        h = int(np.clip(round(side * aspect), cfg.min_size, s))
        w = int(np.clip(round(side / aspect), cfg.min_size, s))
        mask = shape_mask(CLASS_NAMES[label], h, w, angle=float(rng.uniform(0, 2 * np.pi)))
        rows, cols = np.nonzero(mask)
        if len(rows) == 0:
            continue
        y = int(rng.integers(0, s - h + 1))
        x = int(rng.integers(0, s - w + 1))
        window = instance[y:y + h, x:x + w]
        covered = np.bincount(window[mask].astype(np.int64) + 1, minlength=len(area) + 1)[1:]
        if len(area) and np.any(covered > cfg.max_occlusion * np.asarray(area) - _visible_loss(instance, area)):
            continue
        k = len(boxes)
        patch = img[y:y + h, x:x + w]
        tex = _visible_texture(rng, h, w, mask, patch, cfg.min_contrast)
        patch[mask] = tex[mask]
        window[mask] = k
        area.append(int(mask.sum()))
        boxes.append([x + cols.min(), y + rows.min(), x + cols.max() + 1, y + rows.max() + 1])
        labels.append(label)
    chw = img.transpose(2, 0, 1)                     # the channel-first buffer: long inner loops
    if cfg.noise > 0:
        chw += rng.standard_normal((1, s, s), dtype=np.float32) * np.float32(cfg.noise)  # sensor-like grain
    image = np.ascontiguousarray(np.clip(chw, 0, 255).astype(np.uint8).transpose(1, 2, 0))
    return Scene(image, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64), instance)


def _visible_loss(instance: np.ndarray, area: list[int]) -> np.ndarray:
    """Pixels of each shape already hidden by later shapes (its budget of occlusion left shrinks)."""
    visible = np.bincount(instance.ravel().astype(np.int64) + 1, minlength=len(area) + 1)[1:]
    return np.asarray(area) - visible


def make_scenes(cfg: SceneConfig, count: int, seed: int = 0) -> list[Scene]:
    """``count`` scenes with seeds ``seed * 1_000_003 + i`` (disjoint sets for different seeds)."""
    return [make_scene(cfg, seed * 1_000_003 + i) for i in range(count)]


def batch_arrays(scenes: list[Scene]) -> np.ndarray:
    """(B, 3, H, W) float32 in [0, 1] from a list of scenes."""
    return np.stack([sc.image for sc in scenes]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
