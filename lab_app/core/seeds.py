"""The seed of a run: one ``seed`` field in every training config, and what a run card says about it.

A config's ``seed`` decides everything random in its run: the data split, the model's initial weights,
the batch order and the noise (augmentations, latent samples, negatives). The window's ``--seed`` is
the default of every tab's config (tabs build their configs with ``seed=ctx.seed``); the tab's panel
shows it as a restart knob, so the seed on screen is the seed of the run on screen.
"""

from __future__ import annotations

import dataclasses
from typing import Any

SEED_MAX = 2**31 - 1          # what a Qt spin box holds
SEED_TIP = ("Decides everything random in a run: data split, initial weights, batch order, noise. "
            "The same seed gives the same run (on the same device); the window's --seed sets it")


def seed_field(tip: str = SEED_TIP) -> Any:
    """A config's ``seed`` field (default 0, shown by ParamPanel as a spin box)."""
    return dataclasses.field(default=0, metadata={"label": "Seed", "min": 0, "max": SEED_MAX, "spin": True,
                                                  "tip": tip})


def seeds_in(config: Any, path: str = "") -> dict[str, int]:
    """Every value under a key named ``seed`` in a config (dataclasses, dicts, lists, nested), by its
    dotted path: ``{"seed": 7, "mi.seed": 7}``."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    found: dict[str, int] = {}
    if isinstance(config, dict):
        for key, value in config.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "seed" and isinstance(value, int) and not isinstance(value, bool):
                found[where] = value
            else:
                found.update(seeds_in(value, where))
    elif isinstance(config, (list, tuple)):
        for i, value in enumerate(config):
            found.update(seeds_in(value, f"{path}[{i}]"))
    return found


def run_seed(config: Any, fallback: int | None) -> tuple[int | None, dict[str, int]]:
    """(the seed a run card states, the config's seeds when they differ). One seed in the config (in
    one place or several): that one. None in it: ``fallback`` (the window's seed, which such a tab's
    demo uses directly). Several different ones (a tab's panels set apart): None, and each by path."""
    seeds = seeds_in(config)
    distinct = set(seeds.values())
    if len(distinct) == 1:
        return distinct.pop(), {}
    if not distinct:
        return fallback, {}
    return None, seeds
