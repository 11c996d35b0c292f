"""Checkpoints: safetensors weights with a JSON card (model name, config) in the metadata.

Loading never unpickles: safetensors holds only tensors, and the card is JSON. A file written for
another model is refused with a message that names both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab_app.io.atomic import atomic_save
from lab_app.io.errors import LoadError, check_readable_file

CHECKPOINT_EXTENSIONS = (".safetensors",)


def save_checkpoint(path: str | Path, state_dict: dict, model: str, config: dict | None = None,
                    card: dict | None = None) -> Path:
    from safetensors.torch import save_file

    meta = {"model": model, "config": json.dumps(config or {}), "card": json.dumps(card or {})}
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    return atomic_save(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta), suffix=".safetensors")


def load_checkpoint(path: str | Path, model: str | None = None) -> tuple[dict, dict[str, Any], dict[str, Any]]:
    """Return (state_dict, config, card). ``model`` given: refuse a checkpoint of another model."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = check_readable_file(path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise LoadError(path, f"not a readable safetensors checkpoint ({e})") from None
    except Exception as e:  # e.g. a dtype torch cannot hold, or a header the parser rejects otherwise
        raise LoadError(path, f"not a readable safetensors checkpoint ({type(e).__name__}: {e})") from None
    found = meta.get("model")
    if model is not None and found != model:
        raise LoadError(path, f"is a checkpoint of {found or 'an unknown model'!s}, not of {model}")
    try:
        config = json.loads(meta.get("config", "{}"))
        card = json.loads(meta.get("card", "{}"))
    except json.JSONDecodeError:
        raise LoadError(path, "the checkpoint's config is not valid JSON") from None
    if not isinstance(config, dict) or not isinstance(card, dict):
        raise LoadError(path, "the checkpoint's config and card must be JSON objects")
    return tensors, config, card
