"""Which kind of file is this? By extension first, then by the first bytes."""

from __future__ import annotations

from pathlib import Path

from lab_app.io.checkpoint import CHECKPOINT_EXTENSIONS
from lab_app.io.image import IMAGE_EXTENSIONS
from lab_app.io.pointcloud import MESH_EXTENSIONS, POINT_CLOUD_EXTENSIONS
from lab_app.io.text import TEXT_EXTENSIONS

POINTCLOUD = "pointcloud"
IMAGE = "image"
TEXT = "text"
CHECKPOINT = "checkpoint"

_BY_EXTENSION = {
    **{e: POINTCLOUD for e in POINT_CLOUD_EXTENSIONS + MESH_EXTENSIONS},
    **{e: IMAGE for e in IMAGE_EXTENSIONS},
    **{e: TEXT for e in TEXT_EXTENSIONS},
    **{e: CHECKPOINT for e in CHECKPOINT_EXTENSIONS},
}
_MAGIC = (
    (b"\x89PNG", IMAGE), (b"\xff\xd8\xff", IMAGE), (b"BM", IMAGE), (b"GIF8", IMAGE),
    (b"II*\0", IMAGE), (b"MM\0*", IMAGE), (b"ply\n", POINTCLOUD), (b"ply\r\n", POINTCLOUD),
)


def file_kind(path: str | Path) -> str | None:
    """"pointcloud", "image", "text", "checkpoint", or None for a kind the lab does not read."""
    p = Path(path)
    kind = _BY_EXTENSION.get(p.suffix.lower())
    if kind is not None:
        return kind
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    for magic, k in _MAGIC:
        if head.startswith(magic):
            return k
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return IMAGE
    return None


def known_extensions() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for ext, kind in _BY_EXTENSION.items():
        out.setdefault(kind, []).append(ext)
    return {k: tuple(sorted(v)) for k, v in out.items()}
