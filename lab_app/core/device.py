"""Device choice, seeding and the torch CPU-thread policy.

Thread policy (measured, see benchmarks/ui_latency.py and STACK-NOTES): on a machine with few
cores, torch's intra-op OpenMP threads spin on the same cores as the Qt UI thread. With two
intra-op threads on a 2-core machine a tiny model trained anywhere from 0.7x to 80x slower than
with one, and the UI stuttered. So training gets ``cores - 1`` intra-op threads (at least 1, at
most 8): one core is always left to the UI thread, and inter-op parallelism is off (our models
are too small to profit from it).
"""

from __future__ import annotations

import os
import platform
import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that need it: importing it takes about a second, and the
# command line and the window's first paint import this module without needing torch.

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_device(preference: str = "auto") -> torch.device:
    """CUDA, then MPS, then CPU for "auto"; an explicit choice that is not available raises
    ValueError with a message a person can act on."""
    import torch

    preference = (preference or "auto").lower()
    if preference not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if preference == "auto":
        if cuda_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not cuda_available():
        raise ValueError("device 'cuda' was asked for, but torch sees no CUDA GPU (use --device auto or cpu)")
    if preference == "mps" and not mps_available():
        raise ValueError("device 'mps' was asked for, but this torch build has no usable MPS backend")
    return torch.device(preference)


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def training_threads(cores: int | None = None) -> int:
    """Intra-op threads for work that runs beside the UI: one core stays with the UI thread."""
    cores = cpu_cores() if cores is None else cores
    return max(1, min(8, cores - 1))


_interop_set = False


def apply_thread_policy(threads: int | None = None) -> int:
    """Set torch's intra-op thread count and numpy/scikit-learn's BLAS threads (call it from the
    thread that runs the work too: OpenMP's setting is per thread). Returns the count in force."""
    global _interop_set
    import torch

    n = training_threads() if threads is None else max(1, int(threads))
    torch.set_num_threads(n)
    # numpy's and scikit-learn's BLAS/OpenMP pools follow the same policy. Measured here: OpenBLAS
    # with 2 threads beside torch and the UI made a 1437 x 32 SVD take 420 ms instead of 2 ms and a
    # linear probe 5.2 s instead of 0.15 s.
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
    except ImportError:  # threadpoolctl comes with scikit-learn; without it BLAS keeps its default
        pass
    if not _interop_set:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # already started parallel work; the setting can only be made once
        _interop_set = True
    return n


#: How much nicer than the other work of its process a side demo's thread runs (``yield_to_others``).
SIDE_NICE = 5


def yield_to_others(steps: int = SIDE_NICE) -> bool:
    """Run the calling thread below the other threads of its process (Linux gives each thread its own
    nice value and scheduling policy; elsewhere nothing): a demo that runs beside a tab's main
    training (the MI estimators beside the encoder) then takes the CPU that training leaves, not a
    share of it. Its nice value goes up by ``steps`` and it joins SCHED_IDLE, the policy for work that
    runs only when a core would otherwise be idle: with nice alone, a side thread that shares a core
    with the training still takes a quarter of it (the kernel weighs a nice-15 thread against a
    nice-10 one 36 to 110; the README's ui_stalls notes give what that cost the representation tab).
    The main thread (a script or a test running the task itself) keeps its priority: its nice value
    is the program's. Whether it took."""
    get_id = getattr(threading, "get_native_id", None)
    if get_id is None or not hasattr(os, "setpriority") or platform.system() != "Linux":
        return False
    if threading.current_thread() is threading.main_thread():
        return False
    try:
        tid = get_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))
    except OSError:
        return False
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):   # a kernel or container that refuses it: the nice value stands
        pass
    return True


_init_lock = threading.Lock()


@contextmanager
def seeded_init(seed: int):
    """Build models from a seed, one task at a time. torch's default generator is process-wide:
    two tasks in parallel runners that seed it and then initialise their modules interleave their
    draws, and neither run reproduces. Draws during training should use a task's own
    ``torch.Generator``."""
    import torch

    with _init_lock:
        torch.manual_seed(seed)
        yield


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, numpy and torch (all devices); return a fresh numpy Generator for the caller."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@dataclass(frozen=True)
class RuntimeInfo:
    python: str
    torch: str
    numpy: str
    cuda: str
    mps: bool
    gpu_name: str
    cores: int
    torch_threads: int
    platform: str

    def lines(self) -> list[str]:
        return [
            f"Python {self.python}, torch {self.torch}, numpy {self.numpy}",
            f"CUDA: {self.cuda}" + (f" ({self.gpu_name})" if self.gpu_name else ""),
            f"MPS: {'available' if self.mps else 'not available'}",
            f"CPU cores: {self.cores}, torch threads for training: {self.torch_threads}",
            f"Platform: {self.platform}",
        ]


def runtime_info() -> RuntimeInfo:
    import torch

    cuda = cuda_available()
    return RuntimeInfo(
        python=platform.python_version(),
        torch=torch.__version__,
        numpy=np.__version__,
        cuda=(torch.version.cuda or "build without CUDA") if not cuda else f"available (CUDA {torch.version.cuda})",
        mps=mps_available(),
        gpu_name=torch.cuda.get_device_name(0) if cuda else "",
        cores=cpu_cores(),
        torch_threads=torch.get_num_threads(),
        platform=platform.platform(terse=True),
    )
