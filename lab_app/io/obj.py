"""Wavefront OBJ reader (vertices and faces only).

Open3D's OBJ reader drops every face that is not a triangle (a mesh of quads loads with no faces
at all), so the lab parses the few lines it needs itself: ``v x y z [...]`` and ``f a b c ...``
where a corner is ``i``, ``i/t``, ``i//n`` or ``i/t/n`` and negative indices count from the end.
Polygons are fanned into triangles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab_app.io.errors import LoadError


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (vertices (V, 3) float64, triangles (F, 3) int64)."""
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    verts: list[list[str]] = []
    tris: list[tuple[int, int, int]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        parts = raw.split("#", 1)[0].split()
        if not parts:
            continue
        if parts[0] == "v":
            if len(parts) < 4:
                raise LoadError(path, f"line {lineno}: a vertex needs x y z ({raw.strip()[:60]!r})")
            verts.append(parts[1:4])
        elif parts[0] == "f":
            try:
                idx = [int(c.split("/", 1)[0]) for c in parts[1:]]
            except ValueError:
                raise LoadError(path, f"line {lineno}: unreadable face {raw.strip()[:60]!r}") from None
            n = len(verts)
            # 1-based; negative indices are relative to the vertices read so far; 0 is invalid.
            idx = [i - 1 if i > 0 else (n + i if i < 0 else -1) for i in idx]
            if any(i < 0 or i >= n for i in idx):
                raise LoadError(path, f"line {lineno}: face refers to a vertex that does not exist")
            tris.extend((idx[0], idx[j], idx[j + 1]) for j in range(1, len(idx) - 1))
    try:
        vertices = np.array(verts, dtype=np.float64).reshape(-1, 3)
    except ValueError:
        raise LoadError(path, "OBJ vertices are not all numbers") from None
    return vertices, np.array(tris, dtype=np.int64).reshape(-1, 3)
