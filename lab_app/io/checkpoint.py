"""Checkpoints: one format and one API for every tab.

A checkpoint is a safetensors file: the weights as tensors, and in the safetensors metadata one JSON
header (``"lab"``) that says what the weights are::

    {"format": 1, "tab": "vae", "architecture": "vae-mlp", "config": {...}, "class_names": [...],
     "metrics": {...}, "seed": 0, "versions": {"lab": ..., "torch": ..., ...}, "extra": {...}}

Loading never unpickles: safetensors holds only tensors, and the header is JSON. ``load_checkpoint``
refuses, with a message that names the file and the problem, a file that is not safetensors, is cut
short, belongs to another tab or holds an architecture the caller does not know. ``peek_checkpoint``
reads the header alone; ``checkpoint_tab`` only the tab (the window uses it to route a dropped
``.safetensors`` file to its tab).

Files written before this format (metadata ``model``/``config``/``card``) still load: their ``model``
becomes the architecture and the tab is taken from ``LEGACY_TABS``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab_app.io.atomic import atomic_save
from lab_app.io.errors import LoadError, check_readable_file

CHECKPOINT_EXTENSIONS = (".safetensors",)
FORMAT = 1
# The model names that files of the old format carried, and the tab each belongs to.
LEGACY_TABS = {"pointnet": "pointcloud", "yolo-v1": "yolo", "anchorfree": "anchorfree", "vae-mlp": "vae",
               "representation-encoder": "representation"}


@dataclass
class Checkpoint:
    """Weights and what they are. ``state_dict`` maps names to CPU tensors."""

    tab: str
    architecture: str
    state_dict: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def header(self) -> dict[str, Any]:
        from lab_app.core.runcard import _jsonable

        return {"format": FORMAT, "tab": self.tab, "architecture": self.architecture,
                "config": _jsonable(self.config), "class_names": list(self.class_names),
                "metrics": _jsonable(self.metrics), "seed": self.seed,
                "versions": self.versions or current_versions(), "extra": _jsonable(self.extra)}


def current_versions() -> dict[str, str]:
    from lab_app import __version__
    from lab_app.core.device import runtime_info

    info = runtime_info()
    return {"lab": __version__, "python": info.python, "torch": info.torch, "numpy": info.numpy}


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` atomically (a temp file, then rename)."""
    from safetensors.torch import save_file

    meta = {"lab": json.dumps(ckpt.header())}
    tensors = {k: v.detach().cpu().contiguous() for k, v in ckpt.state_dict.items()}
    return atomic_save(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta), suffix=".safetensors")


def _read_meta(path: Path) -> dict[str, str]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise LoadError(path, f"not a readable safetensors checkpoint ({e})") from None
    except Exception as e:  # a header the parser rejects otherwise
        raise LoadError(path, f"not a readable safetensors checkpoint ({type(e).__name__}: {e})") from None


def _header_from_meta(path: Path, meta: dict[str, str]) -> dict[str, Any]:
    try:
        if "lab" in meta:
            header = json.loads(meta["lab"])
            if not isinstance(header, dict):
                raise LoadError(path, "the checkpoint's header is not a JSON object")
            if int(header.get("format", 0)) > FORMAT:
                raise LoadError(path, f"was written by a newer lab (checkpoint format {header['format']}; "
                                      f"this lab reads format {FORMAT})")
            return header
        if "model" in meta:  # the format before the shared header
            config = json.loads(meta.get("config", "{}"))
            card = json.loads(meta.get("card", "{}"))
            if not isinstance(config, dict) or not isinstance(card, dict):
                raise LoadError(path, "the checkpoint's config and card must be JSON objects")
            model = meta["model"]
            return {"format": 0, "tab": card.get("tab") or LEGACY_TABS.get(model), "architecture": model,
                    "config": config, "class_names": card.get("classes") or card.get("class_names") or [],
                    "metrics": card.get("metrics", {}), "seed": card.get("seed"), "versions": {},
                    "extra": card}
    except json.JSONDecodeError:
        raise LoadError(path, "the checkpoint's header is not valid JSON") from None
    raise LoadError(path, "is a safetensors file without the lab's header (not a checkpoint of this lab)")


def peek_checkpoint(path: str | Path) -> dict[str, Any]:
    """The header alone (tab, architecture, config, ...), without reading the weights."""
    path = check_readable_file(path)
    return _header_from_meta(path, _read_meta(path))


def checkpoint_tab(path: str | Path) -> str | None:
    """The tab a checkpoint belongs to (``peek_checkpoint(path)["tab"]``), cheap enough for the UI
    thread to route a dropped file: a legacy card is decoded only when it can name a tab. The shipped
    detectors' cards hold their whole training history, hundreds of KB of JSON; a card that is
    broken shows up when the tab loads the file (``load_checkpoint``, in its worker)."""
    path = check_readable_file(path)
    meta = _read_meta(path)
    if "lab" not in meta and "model" in meta and '"tab"' not in meta.get("card", ""):
        return LEGACY_TABS.get(meta["model"])
    return _header_from_meta(path, meta).get("tab")


def load_checkpoint(path: str | Path, tab: str | None = None,
                    architectures: Iterable[str] | None = None) -> Checkpoint:
    """Read a checkpoint. ``tab`` given: refuse one of another tab. ``architectures`` given: refuse an
    architecture not among them. Every refusal is a ``LoadError`` naming the file and the problem."""
    from safetensors.torch import load_file

    path = check_readable_file(path)
    header = _header_from_meta(path, _read_meta(path))
    found_tab = header.get("tab")
    if tab is not None and found_tab != tab:
        raise LoadError(path, f"is a checkpoint of the {found_tab or 'unknown'!s} tab, not of the {tab} tab"
                              + ("; open it there" if found_tab else ""))
    arch = str(header.get("architecture") or "")
    if architectures is not None:
        known = tuple(architectures)
        if arch not in known:
            raise LoadError(path, f"holds an unknown architecture {arch or '(none)'!r}; this tab knows "
                                  + ", ".join(known))
    try:
        tensors = load_file(str(path))
    except Exception as e:  # truncated data, a dtype torch cannot hold
        raise LoadError(path, f"the weights cannot be read ({type(e).__name__}: {e})") from None
    for key in ("config", "metrics", "extra"):
        if not isinstance(header.get(key) or {}, dict):
            raise LoadError(path, f"the checkpoint's {key} must be a JSON object")
    return Checkpoint(tab=found_tab or "", architecture=arch, state_dict=tensors,
                      config=header.get("config") or {}, class_names=tuple(header.get("class_names") or ()),
                      metrics=header.get("metrics") or {}, seed=header.get("seed"),
                      versions=header.get("versions") or {}, extra=header.get("extra") or {})


def load_state_into(model, ckpt: Checkpoint, path: str | Path | None = None) -> None:
    """``model.load_state_dict`` that turns a mismatch (missing keys, other shapes) into a LoadError."""
    try:
        model.load_state_dict(ckpt.state_dict)
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()
        raise LoadError(path, f"the weights do not fit the {ckpt.architecture} model "
                              f"({first[0] if first else type(e).__name__})") from None


def history_from(extra: dict) -> tuple:
    """The curves a checkpoint carries in ``extra["history"]``, as ((step, {name: value}), ...), the
    form a run's history has; malformed points are dropped (the weights still load)."""
    out = []
    for point in extra.get("history") or []:
        if isinstance(point, (list, tuple)) and len(point) == 2 and isinstance(point[1], dict):
            values = {str(k): float(v) for k, v in point[1].items() if isinstance(v, (int, float))}
            out.append((point[0], values))
    return tuple(out)
