"""File readers (no Qt). Each raises LoadError with a message a person can act on."""

from lab_app.io.checkpoint import load_checkpoint, save_checkpoint
from lab_app.io.errors import LoadError
from lab_app.io.image import load_image, save_image
from lab_app.io.kinds import CHECKPOINT, IMAGE, POINTCLOUD, TEXT, file_kind
from lab_app.io.pointcloud import PointCloud, load_point_cloud, save_point_cloud
from lab_app.io.text import load_text


def load_any(path):
    """Read a file by its kind; returns (kind, value)."""
    kind = file_kind(path)
    readers = {POINTCLOUD: load_point_cloud, IMAGE: load_image, TEXT: load_text,
               CHECKPOINT: lambda p: load_checkpoint(p)}
    if kind is None:
        from pathlib import Path

        p = Path(path)
        if p.is_dir():
            raise LoadError(p, "is a folder, not a file (open a file inside it)")
        raise LoadError(p, f"unknown file kind {p.suffix or '(no extension)'}: the lab opens point clouds, "
                           "meshes, images, text and .safetensors checkpoints")
    return kind, readers[kind](path)


__all__ = [
    "CHECKPOINT", "IMAGE", "POINTCLOUD", "TEXT", "LoadError", "PointCloud", "file_kind", "load_any",
    "load_checkpoint", "load_image", "load_point_cloud", "load_text", "save_checkpoint", "save_image",
    "save_point_cloud",
]
