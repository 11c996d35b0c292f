"""The encoder the representation tab opens on (no Qt): the tab's default config trained by
make_checkpoint.py; Train trains one live."""

from __future__ import annotations

from pathlib import Path

from lab_app.core.control import Control
from lab_app.io.checkpoint import peek_checkpoint
from lab_app.topics.representation.task import Loaded, load_encoder

CHECKPOINT = Path(__file__).resolve().parents[3] / "resources" / "checkpoints" / "representation.safetensors"


def load_shipped(ctl: Control | None = None) -> Loaded:
    """The shipped encoder and its digits, loaded where it runs: the worker process (remote.py's heavy
    tasks), since its scikit-learn import and encoding would hold the window's interpreter lock."""
    return load_encoder(CHECKPOINT, None, ctl)


def shipped_seed() -> int | None:
    """The seed the shipped encoder was trained with (its header only), None without a readable one."""
    try:
        return peek_checkpoint(CHECKPOINT).get("seed") if CHECKPOINT.exists() else None
    except (OSError, ValueError):   # LoadError is a ValueError
        return None
