"""Run cards: what produced a result (seed, device, versions, config), saved beside every export."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from pathlib import Path
from typing import Any

from lab_app import __version__
from lab_app.core.device import runtime_info
from lab_app.core.seeds import run_seed
from lab_app.io.atomic import atomic_write_text


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalars
        return value.item()
    return str(value)


def make_run_card(tab: str, config: Any = None, *, seed: int | None = None, device: str = "cpu",
                  extra: dict | None = None) -> dict:
    info = runtime_info()
    return {
        "lab_version": __version__,
        "tab": tab,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "device": str(device),
        "versions": {"python": info.python, "torch": info.torch, "numpy": info.numpy},
        "config": _jsonable(config) if config is not None else None,
        **({"extra": _jsonable(extra)} if extra else {}),
    }


def tab_run_card(tab: str, config: Any, *, window_seed: int | None, device: str = "cpu") -> dict:
    """A tab's run card: the seed it states is the one in the tab's config (``run_seed``), not the
    window's; a config whose panels hold different seeds gets ``seed: null`` and each under
    ``extra.seeds``."""
    seed, differing = run_seed(config, window_seed)
    return make_run_card(tab, config, seed=seed, device=device, extra={"seeds": differing} if differing else None)


def save_run_card(path: str | Path, card: dict) -> Path:
    """Write ``card`` as JSON to ``path`` (atomically). Returns the path."""
    path = Path(path)
    atomic_write_text(path, json.dumps(card, indent=2, sort_keys=False) + "\n")
    return path


def run_card_path_for(export_path: str | Path) -> Path:
    """``view.png`` -> ``view.runcard.json``."""
    p = Path(export_path)
    return p.with_name(p.stem + ".runcard.json")
