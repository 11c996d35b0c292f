"""Split-batch training across threads of one process (no Qt).

On a CPU with few cores, one training step of a small convolutional net is a few hundred
sequential operations of a millisecond or so. Giving torch a second intra-op (OpenMP) thread makes
every one of them a fork and a barrier: measured on this 2-core machine, two OpenMP threads ran a
detector step 1.7x faster when nothing else ran and about 6x *slower* beside a second busy thread
(the barrier waits for the thread the scheduler has just put aside), which is also what the UI
thread is. So the app gives torch ``cores - 1`` threads (``core.device``).

Lanes use the other core differently: each lane is a Python thread with its own single-threaded
torch ops that runs forward and backward on its share of the batch (and can prepare that share
first). The lanes meet once per step, not once per operation: when the scheduler sets one aside for
the UI thread, the other keeps going. The gradients of the shares are averaged (the gradient of
the mean of the lanes' losses) and the optimiser steps once, so the model is one model trained on
the whole batch; batch-norm layers see each share's statistics (as data-parallel training on
several GPUs does) and their running averages are the mean of the lanes'.

Each extra lane runs a replica that shares the model's parameters (the same tensors) and has its
own buffers; ``torch.autograd.grad`` hands every lane its own gradients, so no two threads write
one ``.grad``. The result is deterministic for a given lane count.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn

from lab_app.core.device import cpu_cores

# work(replica, lane) -> loss terms of that lane's share ({"loss": total, term: value, ...})
LaneWork = Callable[[nn.Module, int], dict]


def default_lanes(device: torch.device | str, cores: int | None = None) -> int:
    """2 on a CPU with at least 2 cores, else 1 (a GPU step is one kernel stream: no gain)."""
    if torch.device(device).type != "cpu":
        return 1
    cores = cpu_cores() if cores is None else cores
    return 2 if cores >= 2 else 1


def shared_replica(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose parameters are the model's own tensors (buffers are copies)."""
    replica = copy.deepcopy(model)
    for mod, rep in zip(model.modules(), replica.modules(), strict=True):
        for name, p in mod._parameters.items():
            if p is not None:
                rep._parameters[name] = p
    return replica


class Lanes:
    """Run one training step's work on ``lanes`` threads and leave the mean gradient in ``.grad``.

    ``step(work)`` calls ``work(replica, lane)`` for lane 0 in the calling thread (on the model
    itself) and for lanes 1.. in worker threads, each of which runs torch with ``threads`` intra-op
    threads. It returns the lanes' mean loss terms (detached). With one lane it is a plain
    ``loss.backward()``. Call ``close()`` (or use it as a context manager) to end the threads."""

    def __init__(self, model: nn.Module, lanes: int = 1, threads: int = 1):
        self.model = model
        self.count = max(1, int(lanes))
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.replicas = [model] + [shared_replica(model) for _ in range(self.count - 1)]
        self._pool = (ThreadPoolExecutor(self.count - 1, thread_name_prefix="lab-task-lane",
                                         initializer=torch.set_num_threads, initargs=(max(1, int(threads)),))
                      if self.count > 1 else None)

    def __enter__(self) -> Lanes:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _grads(self, work: LaneWork, lane: int):
        terms = work(self.replicas[lane], lane)
        grads = torch.autograd.grad(terms["loss"], self.params, allow_unused=True)
        return grads, {k: v.detach() for k, v in terms.items()}

    def step(self, work: LaneWork) -> dict[str, torch.Tensor]:
        for p in self.params:
            p.grad = None
        if self.count == 1:
            terms = work(self.model, 0)
            terms["loss"].backward()
            return {k: v.detach() for k, v in terms.items()}
        futures = [self._pool.submit(self._grads, work, lane) for lane in range(1, self.count)]
        try:
            results = [self._grads(work, 0)]
        finally:
            others = [f.result() for f in futures]   # wait for every lane before anything else
        results += others
        for i, p in enumerate(self.params):
            parts = [g[i] for g, _ in results if g[i] is not None]
            if parts:
                # in the parameter's own memory layout (channels-last weights): a fused optimiser reads
                # .grad as flat memory in the parameter's order, and torch.autograd.grad / stack hand
                # back contiguous tensors (fused AdamW then silently updated the wrong elements)
                p.grad = torch.empty_like(p).copy_(torch.stack(parts).mean(0) if len(parts) > 1 else parts[0])
        self._sync_buffers()
        keys = results[0][1].keys()
        return {k: torch.stack([t[k].float() for _, t in results if k in t]).mean(0) for k in keys}

    @torch.no_grad()
    def _sync_buffers(self) -> None:
        """Batch-norm running statistics: every replica gets the lanes' mean (counters: lane 0's)."""
        groups = zip(*(r.buffers() for r in self.replicas), strict=True)
        for bufs in groups:
            if bufs[0].dtype.is_floating_point:
                bufs[0].copy_(torch.stack(bufs).mean(0))
            for b in bufs[1:]:
                b.copy_(bufs[0])
