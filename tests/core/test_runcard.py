import json
from dataclasses import dataclass

import numpy as np

from lab_app.core.runcard import make_run_card, run_card_path_for, save_run_card


@dataclass
class Cfg:
    lr: float = 0.01
    sizes: tuple = (3, 4)


def test_run_card_records_config_seed_device_and_versions(tmp_path):
    card = make_run_card("pointcloud", Cfg(), seed=3, device="cpu", extra={"acc": np.float32(0.5)})
    path = save_run_card(run_card_path_for(tmp_path / "view.png"), card)
    assert path.name == "view.runcard.json"
    loaded = json.loads(path.read_text())
    assert loaded["config"] == {"lr": 0.01, "sizes": [3, 4]}
    assert loaded["seed"] == 3 and loaded["device"] == "cpu" and loaded["tab"] == "pointcloud"
    assert loaded["extra"]["acc"] == 0.5
    assert {"python", "torch", "numpy"} <= set(loaded["versions"])
