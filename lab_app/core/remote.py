"""Training on a Ray cluster: the task generator runs there, its events stream back here.

A tab's training task is a plain generator ``make(ctl)`` (see lab_app/qt/worker.py). ``RayBackend``
runs it inside a Ray actor (``TaskActor``) as a *streaming generator* method: each event the task
yields reaches this process as soon as it is produced, and the local TaskRunner delivers it exactly
as it delivers a local run's events. The actor is threaded, so ``pause``, ``resume`` and ``cancel``
reach the task's Control while the generator streams; the generator's return value (the trained
weights) comes back as a last ``_Returned`` item, so Save works locally.

Only training tasks go (``TRAINING_TASKS``, by qualified name); inference on dropped files stays
local. Ray is an optional extra (``pip install 'visual-dl-lab[ray]'``): without it, choosing a
cluster says how to install it. Faults end the run with a message and keep what was drawn:
an unreachable cluster (nothing starts), a lost connection or a killed worker, an exception in the
task (its summary), a lab version that differs on the cluster (a warning), a GPU asked for that the
cluster lacks."""

from __future__ import annotations

import functools
import itertools
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from lab_app.core.control import Cancelled, Control

#: The task functions that train (module.qualname). Everything else a tab runs stays local.
TRAINING_TASKS = frozenset({
    "lab_app.topics.representation.task.train",
    "lab_app.topics.representation.mi_task.estimate_mi",
    "lab_app.topics.language.task.train_embeddings",
    "lab_app.topics.reparam.task.estimate",
    "lab_app.topics.reparam.vae_task.train",
    "lab_app.topics.transforms.task.train_gan",
    "lab_app.topics.transforms.task.train_vae",
    "lab_app.topics.vae.task.train",
    "lab_app.topics.anchorfree.task.train",
    "lab_app.topics.yolo.task.train",
    "lab_app.topics.pointcloud.pointnet_task.train",
    "lab_app.topics.pyramids.fpn_task.train_task",
    "lab_app.topics.representation.cpc_task.train",
    "lab_app.topics.vq.task.train",
    "lab_app.topics.vq.prior_task.train_prior",
})
#: CPU-heavy tasks that do not train: seconds of numpy, torch and Cython work in a thread would hold
#: the interpreter lock the UI thread needs (``ui_stalls --trace`` found each of these beside the
#: UI thread's stalls), so the worker process on this computer takes them too
#: (``ProcessBackend.local``); a cluster does not (they read local files or measure this computer).
#: Each returns what it makes and changes nothing it was given that the tab reads afterwards (in the
#: worker it gets copies).
LOCAL_HEAVY_TASKS = frozenset({
    "lab_app.topics.pyramids.measure.measure_task",
    "lab_app.topics.pyramids.faces.lbp_task",
    "lab_app.topics.pyramids.fpn_task.load_task",
    "lab_app.topics.pyramids.fpn_task.image_task",
    "lab_app.topics.pyramids.fpn_task.evaluate_task",
    "lab_app.topics.pyramids.faces.cascade_task",
    "lab_app.detection.detector.detector_run",
    "lab_app.topics.language.task.read_and_analyse",
    "lab_app.topics.language.task.analyse_documents",
    "lab_app.topics.transforms.task.fit_kl",
    "lab_app.topics.vq.prior_task.sample",
    "lab_app.topics.vq.checkpoints.load_stage1",
    "lab_app.topics.pointcloud.task.demo",
    "lab_app.topics.pointcloud.representations.compute",
    "lab_app.topics.representation.shipped.load_shipped",
    "lab_app.topics.representation.task.tsne_frame",
})
INSTALL_HINT = "Ray is not installed here: pip install 'visual-dl-lab[ray]' (or pip install ray)"
#: How long a cluster address may take to answer before it counts as unreachable.
CONNECT_TIMEOUT_S = 5.0


class RemoteError(RuntimeError):
    """A fault on the cluster side, with a message a person can act on."""


def task_name(make: Any) -> str:
    """``module.qualname`` of the task function behind ``make`` (a function or a functools.partial)."""
    while isinstance(make, functools.partial):
        make = make.func
    return f"{getattr(make, '__module__', '?')}.{getattr(make, '__qualname__', '?')}"


def is_training_task(make: Any) -> bool:
    return task_name(make) in TRAINING_TASKS


def is_local_heavy_task(make: Any) -> bool:
    return task_name(make) in LOCAL_HEAVY_TASKS


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class _Returned:
    """The task's return value, sent as the stream's last item."""

    value: Any


@dataclass(frozen=True)
class ClusterInfo:
    address: str
    lab_version: str
    device: str
    device_name: str

    def describe(self) -> str:
        return f"{self.address}: {self.device}" + (f", {self.device_name}" if self.device_name else "")


def _actor_class():
    import ray

    @ray.remote(max_concurrency=8)   # threads: control calls arrive while runs stream
    class TaskActor:
        """One warm worker process for every run of this window (torch and the lab imported once);
        each run has its own Control, found by its run id."""

        def __init__(self):
            self.ctls: dict[int, Control] = {}

        def info(self, device_pref: str) -> dict:
            from lab_app import __version__
            from lab_app.core.device import choose_device

            try:
                device = str(choose_device(device_pref))
            except ValueError as e:
                return {"lab_version": __version__, "error": str(e)}
            name = ""
            if device.startswith("cuda"):
                import torch

                name = torch.cuda.get_device_name(0)
            return {"lab_version": __version__, "device": device, "device_name": name}

        def run(self, run_id: int, make, device_pref: str):
            from lab_app.core.device import apply_thread_policy, choose_device

            apply_thread_policy()
            ctl = Control(choose_device(device_pref))
            self.ctls[run_id] = ctl
            gen = None
            try:
                gen = make(ctl)
                if not isinstance(gen, Iterator):
                    yield _Returned(gen)
                    return
                while True:
                    try:
                        ev = next(gen)
                    except StopIteration as stop:
                        yield _Returned(stop.value)
                        return
                    yield ev
                    ctl.checkpoint()
            except Cancelled:
                return
            finally:
                self.ctls.pop(run_id, None)
                if gen is not None and hasattr(gen, "close"):
                    gen.close()

        def pause(self, run_id: int):
            if run_id in self.ctls:
                self.ctls[run_id].pause()

        def resume(self, run_id: int):
            if run_id in self.ctls:
                self.ctls[run_id].resume()

        def cancel(self, run_id: int):
            if run_id in self.ctls:
                self.ctls[run_id].cancel()

        def set_live(self, key: str, changes: dict):
            from lab_app.core import live

            live.apply(key, changes)

    return TaskActor


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast (RemoteError) when ``ray://host:port`` or ``host:port`` does not answer. ``auto`` and
    ``local`` are not checked here (ray.init finds or starts the cluster)."""
    if address in ("auto", "local", ""):
        return
    url = urlparse(address if "://" in address else f"ray://{address}")
    host, port = url.hostname, url.port or (10001 if url.scheme == "ray" else 6379)
    if not host:
        raise RemoteError(f"{address!r} is not a cluster address (use ray://host:10001 or auto)")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        raise RemoteError(f"the Ray cluster at {address} cannot be reached ({e.strerror or e}); "
                          "the run stays on this computer") from None


class RayBackend:
    """Runs training tasks on a Ray cluster. ``connect()`` first (it raises RemoteError, and the caller
    keeps running locally); then ``stream(make, ctl, run)`` is what the TaskRunner iterates."""

    def __init__(self, address: str, device_pref: str = "auto", **init_kwargs):
        self.address = address
        self.device_pref = device_pref
        self.init_kwargs = init_kwargs
        self.info: ClusterInfo | None = None
        self.warning = ""
        self._actor_cls = None
        self._actor = None          # the warm worker, made at the first run, made again if it dies
        self._run_ids = itertools.count(1)
        self._lock = threading.Lock()

    def connect(self) -> ClusterInfo:
        if not ray_available():
            raise RemoteError(INSTALL_HINT)
        import ray

        check_reachable(self.address)
        try:
            if not ray.is_initialized():
                kwargs = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
                if self.address != "local":
                    kwargs["address"] = self.address
                ray.init(**kwargs)
        except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError, grpc errors...
            raise RemoteError(f"could not join the Ray cluster at {self.address}: {e}; "
                              "the run stays on this computer") from None
        self._actor_cls = _actor_class()
        probe = self._actor_cls.remote()
        try:
            raw = ray.get(probe.info.remote(self.device_pref), timeout=60)
        finally:
            ray.kill(probe)
        from lab_app import __version__

        if "error" in raw:
            raise RemoteError(f"the cluster at {self.address} cannot give the device asked for: {raw['error']}")
        if raw["lab_version"] != __version__:
            self.warning = (f"the cluster runs lab {raw['lab_version']}, this computer {__version__}: "
                            "install the same version on both sides if results look wrong")
        self.info = ClusterInfo(self.address, raw["lab_version"], raw["device"], raw["device_name"])
        return self.info

    def stream(self, make, ctl: Control, run: Any = None) -> Iterator[Any]:
        """A local generator over the remote task's events; returns the task's return value.
        ``run.remote`` is set to an object with pause/resume/cancel that reach the remote Control."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        if self._actor_cls is None:
            self.connect()
        with self._lock:
            if self._actor is None:
                self._actor = self._actor_cls.remote()
            actor = self._actor
        run_id = next(self._run_ids)
        handle = _RemoteControl(actor, run_id)
        if run is not None:
            run.remote = handle
        from lab_app.core import live

        with live.collect() as knobs:   # Ray pickles ``make`` here: the LiveDicts it holds are met
            refs = actor.run.remote(run_id, make, self.device_pref)
        handle.follow(knobs)
        try:
            while True:
                if ctl.cancelled:
                    handle.cancel()
                    raise Cancelled()
                try:
                    ref = next(refs)
                    item = ray.get(ref, timeout=None)
                except StopIteration:
                    raise Cancelled() from None   # the remote task was cancelled before it returned
                except GetTimeoutError:
                    continue
                except RayTaskError as e:
                    cause = e.cause if getattr(e, "cause", None) is not None else e
                    if isinstance(cause, Cancelled):
                        raise Cancelled() from None
                    raise RemoteError(f"the task failed on the cluster: {type(cause).__name__}: {cause}") from None
                except RayActorError as e:
                    with self._lock:
                        if self._actor is actor:
                            self._actor = None      # the next run starts a new worker
                    raise RemoteError("the remote worker died or the connection to the cluster was lost "
                                      f"({type(e).__name__}); what was drawn stays") from None
                if isinstance(item, _Returned):
                    return item.value
                yield item
        finally:
            handle.unfollow(knobs)
            handle.cancel()   # a run left early (closed, cancelled here) stops there too; a no-op otherwise

    def close(self) -> None:
        """Let the warm worker go (the window closes, or runs go back to this computer)."""
        with self._lock:
            actor, self._actor = self._actor, None
        if actor is not None:
            import ray

            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass


class ControlForwarder:
    """A run's pause / resume / cancel and its live-knob writes, sent to where the run is (fire and
    forget: a worker that is gone is reported by the run's stream, not here). A subclass says how,
    in ``_send(kind, *args)``; ``follow`` makes the writes to a run's LiveDicts reach it."""

    def _send(self, kind: str, *args) -> None:
        raise NotImplementedError

    def _forward(self, kind: str, *args) -> None:
        try:
            self._send(kind, *args)
        except Exception:  # noqa: BLE001 - the worker may be gone; the stream reports that
            pass

    def pause(self) -> None:
        self._forward("pause")

    def resume(self) -> None:
        self._forward("resume")

    def cancel(self) -> None:
        self._forward("cancel")

    def set_live(self, key: str, changes: dict) -> None:
        self._forward("live", key, changes)

    def follow(self, knobs: list) -> None:
        """The tab's later writes to ``knobs`` reach the run; a first full copy covers the writes made
        while the task was being pickled."""
        for d in knobs:
            d.listen(self.set_live)
            self.set_live(d.key, dict(d))

    def unfollow(self, knobs: list) -> None:
        for d in knobs:
            d.unlisten(self.set_live)


class _RemoteControl(ControlForwarder):
    """Forwards to the run's actor on the cluster."""

    def __init__(self, actor, run_id: int):
        self.actor = actor
        self.run_id = run_id

    def _send(self, kind: str, *args) -> None:
        if kind == "live":
            self.actor.set_live.remote(*args)
        else:
            getattr(self.actor, kind).remote(self.run_id)
