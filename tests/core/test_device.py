import sys

import numpy as np
import pytest
import torch

from lab_app.core import device as dev


def test_auto_is_cpu_without_gpu(monkeypatch):
    monkeypatch.setattr(dev, "cuda_available", lambda: False)
    monkeypatch.setattr(dev, "mps_available", lambda: False)
    assert dev.choose_device("auto") == torch.device("cpu")


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(dev, "cuda_available", lambda: True)
    monkeypatch.setattr(dev, "mps_available", lambda: True)
    assert dev.choose_device("auto").type == "cuda"
    monkeypatch.setattr(dev, "cuda_available", lambda: False)
    assert dev.choose_device("auto").type == "mps"


def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(dev, "cuda_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        dev.choose_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        dev.choose_device("tpu")


def test_thread_policy_leaves_a_core_for_the_ui():
    assert dev.training_threads(1) == 1
    assert dev.training_threads(2) == 1
    assert dev.training_threads(4) == 3
    assert dev.training_threads(64) == 8


def test_apply_thread_policy_sets_torch_threads():
    before = torch.get_num_threads()
    try:
        assert dev.apply_thread_policy(1) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_seed_reproduces_numpy_and_torch():
    g1 = dev.seed_everything(7)
    a = (g1.random(3), np.random.rand(3), torch.rand(3))
    g2 = dev.seed_everything(7)
    b = (g2.random(3), np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])


def test_runtime_info_mentions_versions():
    info = dev.runtime_info()
    text = "\n".join(info.lines())
    assert torch.__version__ in text and "CPU cores" in text


def test_thread_policy_also_limits_blas():
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    try:
        dev.apply_thread_policy(1)
        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        assert blas, "numpy should expose its BLAS through threadpoolctl"
        assert all(p["num_threads"] == 1 for p in blas)
    finally:
        torch.set_num_threads(before)


def test_seeded_init_builds_the_same_model_while_another_task_builds_too():
    import threading

    stop = threading.Event()

    def other_task():
        while not stop.is_set():
            with dev.seeded_init(7):  # another runner building its own model at the same time
                torch.nn.Linear(64, 64)

    t = threading.Thread(target=other_task)
    t.start()
    try:
        weights = []
        for _ in range(5):
            with dev.seeded_init(3):
                weights.append(torch.nn.Linear(64, 64).weight.detach().clone())
    finally:
        stop.set()
        t.join()
    assert all(torch.equal(w, weights[0]) for w in weights)


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_a_side_demo_thread_runs_below_the_others_of_its_process():
    import os
    import threading

    from lab_app.core.device import SIDE_NICE, yield_to_others

    seen = {}

    def side():
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        seen["took"] = yield_to_others()
        seen["nice"] = (before, os.getpriority(os.PRIO_PROCESS, tid))
        seen["policy"] = os.sched_getscheduler(tid)

    t = threading.Thread(target=side)
    t.start()
    t.join()
    me = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before, after = seen["nice"]
    assert seen["took"] and after == min(19, before + SIDE_NICE)
    assert seen["policy"] == os.SCHED_IDLE    # it runs only where a core would otherwise be idle
    assert me == before   # the calling thread, not the process: the others keep theirs
    assert os.sched_getscheduler(threading.get_native_id()) == os.SCHED_OTHER
    assert not yield_to_others() and os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == me


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_the_mi_estimators_run_below_the_encoder_beside_them():
    """The MI demo's task lowers its own thread (the encoder's training in the same worker goes
    first), from its first step."""
    import os
    import threading

    from lab_app.core.control import Control
    from lab_app.core.device import SIDE_NICE
    from lab_app.topics.representation import mi_task

    seen = {}

    def run():
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        gen = mi_task.estimate_mi(mi_task.MIConfig(steps=2), {}, Control())
        next(gen)
        seen["nice"] = (before, os.getpriority(os.PRIO_PROCESS, tid))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    before, after = seen["nice"]
    assert after == min(19, before + SIDE_NICE)
