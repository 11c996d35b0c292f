"""A trained model, the one shape for the tabs that train a model they can save (the two detectors and
PointNet): what a training task returns (``Trained``), what it yields while it runs so the tab can
use the model as it is now (``Weights``), and one way to save, load and rebuild it (``ModelSpec``)
through the lab's checkpoint API (lab_app.io.checkpoint). No Qt.

Building a model and loading weights are work, not drawing: a tab hands a *source* (a checkpoint
path, ``Weights``, ``Trained`` or an already built ``Ready``) to ``model_task`` in a runner and draws
the ``ModelRun`` it returns: the built model and its output on the tab's input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab_app.core.events import Event


@dataclass(frozen=True)
class Weights(Event):
    """The model as it is now (CPU copies), yielded while training goes on."""

    coalesce = True
    state: dict
    model_config: dict
    class_names: tuple[str, ...] = ()
    step: int = 0


@dataclass(frozen=True)
class Trained:
    """What a training run made. ``extra`` holds what a tab keeps beside the weights, JSON-ready
    (PointNet: its confusion matrix and data source); it goes into the checkpoint's header."""

    state: dict                                    # name -> CPU tensor
    model_config: dict
    class_names: tuple[str, ...]
    metrics: dict[str, Any]
    history: list = field(default_factory=list)    # [step, {metric: value}] as the curves were drawn
    train_config: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def cpu_state(model) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class Ready:
    """A built model (eval mode), its class names and the record to save it again (None for live
    weights). ``origin``: "checkpoint", "weights", "trained" or "given"; ``path``: its checkpoint."""

    model: Any
    class_names: tuple[str, ...]
    trained: Trained | None
    origin: str
    path: Path | None = None
    step: int = 0


@dataclass(frozen=True)
class ModelRun:
    """``model_task``'s result: the model (built in the worker) and its output on the tab's input."""

    ready: Ready
    output: Any = None
    inputs: Any = None          # what the output is of (a copy when the run went to the worker process)


@dataclass(frozen=True)
class ModelSpec:
    """How one tab's models are built, saved and loaded. ``build(model_config, state)`` returns the
    model in eval mode; ``default_names(num_classes)`` names the classes of a file that has none."""

    tab: str
    architecture: str
    title: str
    build: Callable[[dict, dict | None], Any]
    default_names: Callable[[int], tuple[str, ...]] | None = None

    def save(self, path: str | Path, trained: Trained, card: dict | None = None) -> Path:
        from lab_app.io.checkpoint import Checkpoint, save_checkpoint

        extra = {"train_config": trained.train_config, "history": trained.history, **trained.extra,
                 **(card or {})}
        ckpt = Checkpoint(self.tab, self.architecture, trained.state, trained.model_config,
                          tuple(trained.class_names), trained.metrics, seed=trained.train_config.get("seed"),
                          extra=extra)
        return save_checkpoint(path, ckpt)

    def load(self, path: str | Path) -> Ready:
        """The model of a checkpoint of this tab, or LoadError (another tab's file, another architecture,
        a cut-short file, weights that do not fit the config they came with)."""
        from lab_app.io.checkpoint import history_from, load_checkpoint
        from lab_app.io.errors import LoadError

        ckpt = load_checkpoint(path, tab=self.tab, architectures=(self.architecture,))
        config = dict(ckpt.config)
        legacy_names = config.pop("class_names", None)     # PointNet files of the first format
        try:
            model = self.build(config, ckpt.state_dict)
        except (TypeError, RuntimeError, ValueError, KeyError) as e:
            first = str(e).strip().splitlines()
            raise LoadError(path, f"the weights do not fit the {self.title} its checkpoint describes "
                                  f"({first[0] if first else type(e).__name__})") from None
        k = model.cfg.num_classes
        default = self.default_names(k) if self.default_names else ()
        names = tuple(ckpt.class_names or legacy_names or default)
        if len(names) != k:
            raise LoadError(path, f"{len(names)} class names for a model of {k} classes")
        extra = dict(ckpt.extra)
        history = history_from(extra)   # malformed points dropped: the tab replays it as its curves
        extra.pop("history", None)
        train_config = extra.pop("train_config", {})
        extra.pop("metrics", None)
        trained = Trained(dict(ckpt.state_dict), model.cfg.to_dict(), names, dict(ckpt.metrics),
                          [[step, values] for step, values in history], dict(train_config), extra)
        return Ready(model, names, trained, "checkpoint", Path(path))

    def ready(self, source) -> Ready:
        """Build the model ``source`` describes: a checkpoint path, Weights, Trained or Ready."""
        if isinstance(source, Ready):
            return source
        if isinstance(source, (str, Path)):
            return self.load(source)
        model = self.build(source.model_config, source.state)
        if isinstance(source, Weights):
            return Ready(model, tuple(source.class_names), None, "weights", step=source.step)
        return Ready(model, tuple(source.class_names), source, "trained")


def model_task(spec: ModelSpec, source, run: Callable[[Any, tuple[str, ...]], Any] | None, inputs, ctl):
    """Task generator: build (or load) the model ``source`` names, then ``run(model, class_names)`` on
    the tab's input when there is one. Returns ModelRun; a bad checkpoint raises LoadError (the
    runner's error message; the tab keeps its model)."""
    ctl.checkpoint()
    ready = spec.ready(source)
    ctl.checkpoint()
    output = run(ready.model, ready.class_names) if run is not None else None
    return ModelRun(ready, output, inputs)
    yield  # pragma: no cover  (makes this a generator)


class ModelSlot:
    """The model a tab uses (``ready``) and the one it will use next (``pending``: a checkpoint path,
    live Weights or a Trained result, not built yet), for a tab that builds models in a runner (no Qt:
    plain state the tab's slots update). A checkpoint being loaded is not replaced by live weights;
    a load that fails is dropped and the model in use stays."""

    def __init__(self):
        self.ready: Ready | None = None
        self.pending = None
        self.shipped = False                 # the pending checkpoint is the tab's shipped one
        self.text = "Model: none yet"       # the label of the model in use
        self._running = None

    @property
    def model(self):
        return self.ready.model if self.ready is not None else None

    def load(self, path: str | Path, shipped: bool = False) -> None:
        self.pending, self.shipped = Path(path), shipped

    def offer(self, source) -> None:
        """Live weights or a finished run: used next, unless a checkpoint is being loaded."""
        if not isinstance(self.pending, Path):
            self.pending = source

    def start(self):
        """The source of the run about to start (pending first, else the model in use)."""
        self._running = self.pending if self.pending is not None else self.ready
        return self._running

    def finished(self, run: ModelRun) -> bool:
        """The runner built ``run.ready``: True when it is a model not in use before. A run of the
        model in use is not new even when ``run.ready`` is a copy of it (the run went to the worker
        process and back)."""
        reused = self._running is not None and self._running is self.ready
        if self._running is not None and self._running is self.pending:
            self.pending = None
        self.shipped = False
        new = run.ready is not None and run.ready is not self.ready and not reused
        if new:
            self.ready = run.ready
        return new

    def failed(self) -> str:
        """The runner's run failed: "shipped" or "checkpoint" when it was loading one (now dropped),
        "" otherwise."""
        what = ""
        if isinstance(self._running, Path) and self._running is self.pending:
            self.pending = None
            what = "shipped" if self.shipped else "checkpoint"
        self.shipped = False
        return what


@dataclass(frozen=True)
class Saved:
    path: Path


def save_task(spec: ModelSpec, path: str | Path, trained: Trained, card: dict | None, ctl):
    """Task generator: write ``trained`` as a checkpoint of ``spec``'s tab (atomically). Returns Saved."""
    ctl.checkpoint()
    return Saved(spec.save(path, trained, card))
    yield  # pragma: no cover  (makes this a generator)
