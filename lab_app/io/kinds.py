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
    (b"\x93NUMPY", POINTCLOUD), (b"# .PCD", POINTCLOUD), (b"VERSION .7", POINTCLOUD), (b"OFF", POINTCLOUD),
    (b"COFF", POINTCLOUD), (b"NOFF", POINTCLOUD),
)


def file_kind(path: str | Path) -> str | None:
    """"pointcloud", "image", "text", "checkpoint", or None for a kind the lab does not read.

    The extension decides when the lab knows it; otherwise the first bytes do (and a file with no
    extension at all that is plain UTF-8 is text)."""
    p = Path(path)
    kind = _BY_EXTENSION.get(p.suffix.lower())
    if kind is not None:
        return kind
    try:
        if not p.is_file():
            return None
        with open(p, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    for magic, k in _MAGIC:
        if head.startswith(magic):
            return k
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return IMAGE
    if _looks_safetensors(head):
        return CHECKPOINT
    if not p.suffix and head and b"\0" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.start < len(head) - 4:  # not just a character cut off at the end of the sample
                return None
        return TEXT
    return None


def _looks_safetensors(head: bytes) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON object."""
    if len(head) < 10:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n < 100_000_000 and head[8:9] == b"{" and head[9:10] in (b'"', b"}", b" ", b"\n")


def known_extensions() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for ext, kind in _BY_EXTENSION.items():
        out.setdefault(kind, []).append(ext)
    return {k: tuple(sorted(v)) for k, v in out.items()}
