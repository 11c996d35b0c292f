"""ParamPanel: controls from field metadata, config round trip, live flags, silent syncing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel
from superqt import QLabeledDoubleSlider, QLabeledSlider

from lab_app.qt.widgets.param_panel import LogSlider, ParamPanel


@dataclass(frozen=True)
class DemoConfig:
    margin: float = field(default=1.0, metadata={"label": "Margin", "min": 0.0, "max": 5.0, "step": 0.1,
                                                 "live": True, "tip": "how far apart"})
    hidden_dim: int = field(default=32, metadata={"label": "Hidden", "min": 8, "max": 256, "step": 8})
    lr: float = field(default=1e-3, metadata={"min": 1e-5, "max": 1.0, "log": True})
    normalize: bool = field(default=True, metadata={"label": "Normalize", "live": True})
    method: str = field(default="pca", metadata={"choices": ["pca", "tsne"], "live": True})
    seed: int = 0  # no metadata: not a knob
    steps: int = field(default=100, metadata={"label": "Steps"})  # no min/max: skipped


@pytest.fixture
def panel(qtbot):
    widget = ParamPanel(DemoConfig())
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_controls_follow_the_field_types_and_skip_non_knobs(panel):
    assert panel.knob_names() == ["margin", "hidden_dim", "lr", "normalize", "method"]
    assert isinstance(panel.control("margin"), QLabeledDoubleSlider)
    assert isinstance(panel.control("hidden_dim"), QLabeledSlider)
    assert isinstance(panel.control("lr"), LogSlider)
    assert isinstance(panel.control("normalize"), QCheckBox)
    assert isinstance(panel.control("method"), QComboBox)
    assert panel.is_live("margin") and not panel.is_live("hidden_dim")


def test_live_and_restart_knobs_look_different(panel):
    tags = [w.text() for w in panel.findChildren(QLabel) if w.text() in ("live", "restart")]
    assert tags.count("live") == 3 and tags.count("restart") == 2
    assert "how far apart" in panel.control("margin").toolTip()
    assert "Restart" in panel.control("hidden_dim").toolTip()


def test_config_round_trips(panel):
    assert panel.config == DemoConfig()
    new = dataclasses.replace(DemoConfig(), margin=2.5, hidden_dim=64, lr=0.01, normalize=False,
                              method="tsne", seed=7)
    panel.set_config(new)
    assert panel.config == new


def test_user_changes_emit_with_the_live_flag(panel, qtbot):
    live = []
    panel.live_changed.connect(lambda *args: live.append(args))
    with qtbot.waitSignal(panel.changed, timeout=500) as blocker:
        panel.control("margin").setValue(0.3)
    assert blocker.args == ["margin", 0.3, True]  # snapped to the step: 0.3, not 0.30000000000000004
    assert live == [("margin", 0.3)]
    with qtbot.waitSignal(panel.restart_changed, timeout=500) as blocker:
        panel.control("hidden_dim").setValue(64)
    assert blocker.args == ["hidden_dim", 64]
    with qtbot.waitSignal(panel.changed, timeout=500) as blocker:
        panel.control("method").setCurrentText("tsne")
    assert blocker.args == ["method", "tsne", True]
    with qtbot.waitSignal(panel.changed, timeout=500) as blocker:
        panel.control("normalize").click()
    assert blocker.args == ["normalize", False, True]
    assert panel.config.margin == 0.3 and panel.config.hidden_dim == 64


def test_restart_knob_waits_for_slider_release(panel, qtbot):
    slider = panel.control("hidden_dim")
    seen = []
    panel.changed.connect(lambda *args: seen.append(args))
    slider.setSliderDown(True)
    slider.setValue(128)
    slider.setValue(136)
    assert seen == []
    slider.setSliderDown(False)
    slider.sliderReleased.emit()
    assert seen == [("hidden_dim", 136, False)]


def test_set_config_does_not_emit(panel, qtbot):
    with qtbot.assertNotEmitted(panel.changed):
        panel.set_config(dataclasses.replace(DemoConfig(), margin=4.0, method="tsne", normalize=False))
    assert panel.control("margin").value() == pytest.approx(4.0)


def test_rejects_a_non_dataclass(qtbot):
    with pytest.raises(TypeError):
        ParamPanel(object())
