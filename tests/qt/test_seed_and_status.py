"""The window's --seed reaches every tab's config and its run card; --screenshot writes the card beside
the picture; the status bar speaks for the tab on screen."""

from __future__ import annotations

import json

import pytest

from lab_app import cli
from lab_app.app import MainWindow
from lab_app.core.seeds import seeds_in
from lab_app.registry import TOPICS

# The tabs whose work trains (or draws) from a seed of their own config.
SEEDED_TABS = {"representation", "transforms", "vae", "reparam", "language", "yolo", "anchorfree", "pointcloud"}


@pytest.fixture
def win(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_SETTINGS_DIR", str(tmp_path / "settings"))
    w = MainWindow(device_pref="cpu", seed=7, demo=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    assert w.shutdown(10.0)


def test_the_window_seed_is_every_config_seed_and_the_run_cards_seed(win):
    for spec in TOPICS:
        tab = win.tab_by_id[spec.id]
        card = win.run_card(tab)
        seeds = seeds_in(card["config"])
        if spec.id in SEEDED_TABS:
            assert seeds, f"{spec.id}: no seed in its config"
        assert set(seeds.values()) <= {7}, (spec.id, seeds)
        assert card["seed"] == 7, (spec.id, card["seed"])


def test_the_card_states_the_seed_the_panel_holds_not_the_windows(qtbot, win):
    tab = win.tab_by_id["language"]      # no corpus read yet (no demo): a seed change starts nothing
    spin = tab.params.control("seed")
    assert spin.value() == 7 and "random" in spin.toolTip()
    spin.setValue(11)
    assert tab.config.seed == 11
    card = win.run_card(tab)
    assert card["seed"] == 11 and seeds_in(card["config"]) == {"seed": 11}

    vae = win.tab_by_id["vae"]           # two panels of one tab set apart: the card does not pick one
    rep = win.tab_by_id["representation"]
    rep.mi_params.set_config(type(rep.mi_params.config)(**{**rep.mi_params.config.__dict__, "seed": 5}))
    card = win.run_card(rep)
    assert card["seed"] is None and card["extra"]["seeds"] == {"seed": 7, "mi.seed": 5}
    assert win.run_card(vae)["seed"] == 7


def test_screenshot_writes_the_run_card_beside_the_picture(qtbot, win, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_wait_for_result", lambda tab, timeout: None)   # the picture is not the point
    status = {"code": 0}
    cli._screenshots(win, tmp_path / "shots", ["reparam", "language"], 1.0, status)
    assert status["code"] == 0
    for tab_id in ("reparam", "language"):
        assert (tmp_path / "shots" / f"{tab_id}.png").stat().st_size > 1000
        card = json.loads((tmp_path / "shots" / f"{tab_id}.runcard.json").read_text())
        assert card["tab"] == tab_id and card["seed"] == 7 and card["device"] == "cpu"
        seeds = seeds_in(card["config"])
        assert seeds and set(seeds.values()) == {7}, seeds


def test_the_status_bar_speaks_for_the_current_tab(qtbot, win):
    bar = win.statusBar()
    language, reparam = win.tab_by_id["language"], win.tab_by_id["reparam"]
    win.tabs.setCurrentWidget(language)
    language.status_message.emit("skip-gram: 3,849 words")
    assert bar.currentMessage() == "skip-gram: 3,849 words"

    win.tabs.setCurrentWidget(reparam)                 # the language tab's line goes with it
    assert bar.currentMessage() == ""
    language.status_message.emit("trained: loss 2.1")  # a background tab does not speak over this one
    language.runner.errored.emit("language: something failed")
    assert bar.currentMessage() == ""
    reparam.status_message.emit("race done")
    assert bar.currentMessage() == "race done"

    win.tabs.setCurrentWidget(language)                # back: the language tab's latest line
    assert bar.currentMessage() == "language: something failed"
    win.tabs.setCurrentWidget(reparam)
    assert bar.currentMessage() == "race done"
