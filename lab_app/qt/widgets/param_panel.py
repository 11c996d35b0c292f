"""ParamPanel: labelled controls built from a config dataclass, the single source of truth for a tab.

Each dataclass field that carries knob metadata becomes one row::

    margin: float = field(default=1.0, metadata={"label": "Margin", "min": 0.0, "max": 5.0,
                                                 "step": 0.1, "live": True, "tip": "..."})

int -> QLabeledSlider (a QSpinBox with "spin": True), float -> QLabeledDoubleSlider (or a log-scaled
slider with "log": True), bool -> QCheckBox, str with "choices" -> QComboBox. Numeric fields need "min"
and "max"; bool fields need some metadata (e.g. a "label"); str fields need "choices". Other fields
are not shown and keep their values. "live" knobs redraw from the last result; the others ("restart"
knobs) restart the run, and the panel shows which is which with a coloured tag, the label colour and
the tooltip.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QWidget
from superqt import QDoubleSlider, QLabeledDoubleSlider, QLabeledSlider

from lab_app.qt.staged import build_pause

LIVE_COLOR = "#3a9d5d"
RESTART_COLOR = "#c77c2a"
LIVE_TIP = "Live: changes the view of the last result at once, no retraining."
RESTART_TIP = "Restart: changing this starts a new run."


class LogSlider(QWidget):
    """A slider over log10(value) with a label showing the value itself (superqt has no log slider)."""

    valueChanged = Signal(float)
    sliderReleased = Signal()

    def __init__(self, lo: float, hi: float, parent: QWidget | None = None):
        super().__init__(parent)
        if lo <= 0 or hi <= lo:
            raise ValueError(f"a log slider needs 0 < min < max, got {lo}, {hi}")
        self.slider = QDoubleSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(math.log10(lo), math.log10(hi))
        self.label = QLabel()
        self.label.setMinimumWidth(60)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderReleased.connect(self.sliderReleased)
        self._on_slider(self.slider.value())

    def _on_slider(self, exponent: float) -> None:
        value = self.value()
        self.label.setText(f"{value:.3g}")
        self.valueChanged.emit(value)

    def value(self) -> float:
        return float(f"{10 ** self.slider.value():.4g}")  # 4 significant digits: no 0.00099999

    def setValue(self, value: float) -> None:  # Qt naming, like the sliders beside it
        self.slider.setValue(math.log10(max(value, 1e-300)))
        self.label.setText(f"{self.value():.3g}")  # also when signals are blocked while syncing

    def isSliderDown(self) -> bool:
        return self.slider.isSliderDown()


@dataclasses.dataclass
class _Knob:
    name: str
    live: bool
    kind: type
    control: QWidget
    decimals: int = 0


def _decimals(step: float) -> int:
    """Decimals that show ``step`` exactly: 0.1 -> 1, 0.05 -> 2, 1 -> 0."""
    text = f"{step:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


class ParamPanel(QWidget):
    """Controls for the knob fields of a config dataclass, kept in sync both ways.

    ``changed(name, value, live)`` fires when the user moves a control; ``live_changed(name, value)``
    and ``restart_changed(name, value)`` split it by kind. Restart knobs report a slider drag once, on
    release, so dragging does not start a run per pixel; live knobs report while dragging.
    """

    changed = Signal(str, object, bool)
    live_changed = Signal(str, object)
    restart_changed = Signal(str, object)

    def __init__(self, config: Any, parent: QWidget | None = None):
        build_pause()   # in a tab built in slices, a slice ends here when due (qt/staged.py)
        super().__init__(parent)
        if not dataclasses.is_dataclass(config) or isinstance(config, type):
            raise TypeError(f"ParamPanel needs a dataclass instance, got {type(config).__name__}")
        self._config = config
        self._knobs: dict[str, _Knob] = {}
        self._last_emitted: dict[str, Any] = {}
        self._syncing = False
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setColumnStretch(1, 1)
        for field in dataclasses.fields(config):
            build_pause()   # and between knobs: a config of twenty knobs is a long slice of its own
            knob = self._build_knob(field, getattr(config, field.name))
            if knob is None:
                continue
            row = len(self._knobs)
            self._knobs[field.name] = knob
            meta = field.metadata
            tip = (meta.get("tip", "") + "\n\n" if meta.get("tip") else "") + (LIVE_TIP if knob.live
                                                                               else RESTART_TIP)
            label = QLabel(meta.get("label", field.name.replace("_", " ").capitalize()))
            label.setStyleSheet(f"color: {LIVE_COLOR if knob.live else RESTART_COLOR};")
            tag = QLabel("live" if knob.live else "restart")
            tag.setStyleSheet(f"color: white; background: {LIVE_COLOR if knob.live else RESTART_COLOR};"
                              " border-radius: 3px; padding: 0 4px; font-size: 9pt;")
            for widget in (label, knob.control, tag):
                widget.setToolTip(tip)
            label.setBuddy(knob.control)
            grid.addWidget(label, row, 0)
            grid.addWidget(knob.control, row, 1)
            grid.addWidget(tag, row, 2)
            self._last_emitted[field.name] = self._read(knob)
        grid.setRowStretch(len(self._knobs), 1)

    # ------------------------------------------------------------- building
    def _build_knob(self, field: dataclasses.Field, value: Any) -> _Knob | None:
        meta = field.metadata
        live = bool(meta.get("live", False))
        name = field.name
        if isinstance(value, bool):  # before int: bool is an int subclass
            if not meta:
                return None
            control = QCheckBox()
            control.setChecked(value)
            control.toggled.connect(lambda v, n=name: self._on_control(n))
            return _Knob(name, live, bool, control)
        if isinstance(value, str):
            if not meta.get("choices"):
                return None
            control = QComboBox()
            control.addItems([str(c) for c in meta["choices"]])
            control.setCurrentText(value)
            control.currentTextChanged.connect(lambda v, n=name: self._on_control(n))
            return _Knob(name, live, str, control)
        if not isinstance(value, (int, float)) or "min" not in meta or "max" not in meta:
            return None
        lo, hi = meta["min"], meta["max"]
        if isinstance(value, int) and meta.get("spin"):
            # A number typed in, not a position (a seed): reported on Enter or leaving the box, not
            # per keystroke, so a restart knob does not start a run per digit.
            control = QSpinBox()
            control.setRange(int(lo), int(hi))
            control.setKeyboardTracking(False)
            control.setValue(value)
            control.valueChanged.connect(lambda v, n=name: self._on_control(n))
            return _Knob(name, live, int, control)
        if isinstance(value, int):
            control = QLabeledSlider(Qt.Orientation.Horizontal)
            control.setRange(int(lo), int(hi))
            control.setSingleStep(int(meta.get("step", 1)))
            control.setPageStep(max(1, (int(hi) - int(lo)) // 10))
            control.setValue(value)
            knob = _Knob(name, live, int, control)
        elif meta.get("log"):
            control = LogSlider(float(lo), float(hi))
            control.setValue(value)
            knob = _Knob(name, live, float, control)
        else:
            step = float(meta.get("step", (hi - lo) / 100))
            control = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
            control.setRange(float(lo), float(hi))
            control.setSingleStep(step)
            control.setPageStep(step * 10)
            decimals = _decimals(step)
            control.setDecimals(max(decimals, 1))
            control.setValue(float(value))
            knob = _Knob(name, live, float, control, decimals)
        control.valueChanged.connect(lambda v, n=name: self._on_control(n))
        control.sliderReleased.connect(lambda n=name: self._on_control(n, released=True))
        return knob

    # ------------------------------------------------------------ reading
    def _read(self, knob: _Knob) -> Any:
        control = knob.control
        if knob.kind is bool:
            return control.isChecked()
        if knob.kind is str:
            return control.currentText()
        if knob.kind is int:
            return int(control.value())
        if isinstance(control, LogSlider):
            return control.value()
        # Snap to the step's decimals: a slider of step 0.1 should give 0.3, not 0.30000000000000004.
        return round(float(control.value()), knob.decimals) if knob.decimals else float(control.value())

    def _on_control(self, name: str, released: bool = False) -> None:
        if self._syncing:
            return
        knob = self._knobs[name]
        slider_down = getattr(knob.control, "isSliderDown", lambda: False)()
        if not knob.live and slider_down and not released:
            return  # restart knobs wait for the release
        value = self._read(knob)
        if value == self._last_emitted.get(name):
            return  # a release without a change, or the snapped value did not move
        self._last_emitted[name] = value
        self.changed.emit(name, value, knob.live)
        (self.live_changed if knob.live else self.restart_changed).emit(name, value)

    # --------------------------------------------------------------- API
    @property
    def config(self) -> Any:
        """A new config instance with the controls' current values (other fields unchanged)."""
        return dataclasses.replace(self._config, **{n: self._read(k) for n, k in self._knobs.items()})

    def set_config(self, config: Any) -> None:
        """Show ``config``'s values in the controls without emitting ``changed`` (no feedback loop)."""
        self._syncing = True
        try:
            for name, knob in self._knobs.items():
                value = getattr(config, name)
                control = knob.control
                was_blocked = control.blockSignals(True)
                try:
                    if knob.kind is bool:
                        control.setChecked(bool(value))
                    elif knob.kind is str:
                        control.setCurrentText(str(value))
                    else:
                        control.setValue(value)
                finally:
                    control.blockSignals(was_blocked)
                self._last_emitted[name] = self._read(knob)
        finally:
            self._syncing = False
        self._config = config

    def knob_names(self) -> list[str]:
        """Names of the fields that have a control, in display order."""
        return list(self._knobs)

    def control(self, name: str) -> QWidget:
        """The control widget of field ``name`` (for tests and for tabs that enable/disable knobs)."""
        return self._knobs[name].control

    def is_live(self, name: str) -> bool:
        return self._knobs[name].live
