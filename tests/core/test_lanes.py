"""Split-batch lanes: the mean gradient of the shares, batch-norm statistics averaged, deterministic."""

from __future__ import annotations

import copy
import threading

import pytest
import torch
from torch import nn

from lab_app.core.lanes import Lanes, default_lanes, shared_replica


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 2, 1),
                         nn.Flatten(), nn.Linear(2 * 8 * 8, 3))


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 3, (8,), generator=g)


def _share_loss(net, x, y, lane, count):
    idx = list(range(lane, len(x), count))
    return {"loss": nn.functional.cross_entropy(net(x[idx]), y[idx]), "extra": torch.tensor(float(lane))}


def test_two_lanes_leave_the_mean_gradient_of_the_shares_and_mean_bn_statistics():
    x, y = _data()
    model = _net().train()
    reference = copy.deepcopy(model)
    # by hand: each share on its own copy, gradients and running statistics averaged
    grads, means, vars_ = [], [], []
    for lane in range(2):
        ref = copy.deepcopy(reference)
        loss = _share_loss(ref, x, y, lane, 2)["loss"]
        grads.append(torch.autograd.grad(loss, list(ref.parameters())))
        means.append(ref[1].running_mean.clone())
        vars_.append(ref[1].running_var.clone())
    threads = []

    def work(net, lane):
        threads.append(threading.current_thread().name)
        return _share_loss(net, x, y, lane, 2)

    with Lanes(model, 2) as lanes:
        terms = lanes.step(work)
        for p, g0, g1 in zip(model.parameters(), *grads, strict=True):
            torch.testing.assert_close(p.grad, (g0 + g1) / 2)
        torch.testing.assert_close(model[1].running_mean, (means[0] + means[1]) / 2)
        torch.testing.assert_close(model[1].running_var, (vars_[0] + vars_[1]) / 2)
        torch.testing.assert_close(lanes.replicas[1][1].running_mean, model[1].running_mean)
    assert terms["extra"].item() == pytest.approx(0.5)          # the lanes' mean of each term
    assert len(set(threads)) == 2 and any(t.startswith("lab-task-lane") for t in threads)


def test_replica_shares_parameters_not_buffers():
    model = _net()
    rep = shared_replica(model)
    assert all(a is b for a, b in zip(model.parameters(), rep.parameters(), strict=True))
    assert all(a is not b for a, b in zip(model.buffers(), rep.buffers(), strict=True))


def test_one_lane_is_plain_backward():
    x, y = _data()
    model, ref = _net(), _net()
    with Lanes(model, 1) as lanes:
        lanes.step(lambda net, lane: _share_loss(net, x, y, 0, 1))
    nn.functional.cross_entropy(ref(x), y).backward()
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad)


def _train(steps: int) -> list[torch.Tensor]:
    x, y = _data()
    model = _net().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Lanes(model, 2) as lanes:
        for _ in range(steps):
            lanes.step(lambda net, lane: _share_loss(net, x, y, lane, 2))
            opt.step()
    return [t.detach().clone() for t in model.state_dict().values()]


def test_two_lanes_are_deterministic():
    for a, b in zip(_train(5), _train(5), strict=True):
        assert torch.equal(a, b)


def test_an_error_in_a_worker_lane_reaches_the_caller_after_every_lane_ended():
    x, y = _data()
    model = _net().train()
    finished = []

    def work(net, lane):
        if lane == 1:
            raise ValueError("bad share")
        out = _share_loss(net, x, y, lane, 2)
        finished.append(lane)
        return out

    with Lanes(model, 2) as lanes, pytest.raises(ValueError, match="bad share"):
        lanes.step(work)
    assert finished == [0]
    assert lanes._pool is None                 # closed by the context manager


def test_default_lanes():
    assert default_lanes("cpu", cores=2) == 2
    assert default_lanes("cpu", cores=16) == 2
    assert default_lanes("cpu", cores=1) == 1
    assert default_lanes("cuda", cores=16) == 1


@pytest.mark.skipif(tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 4),
                    reason="fused AdamW on the CPU needs torch 2.4 (pyproject admits 2.2)")
def test_gradients_keep_the_parameters_layout_so_a_fused_optimiser_steps_right():
    """Channels-last weights: torch.autograd.grad hands back contiguous gradients; fused AdamW reads
    .grad as flat memory in the parameter's order, so a mismatched layout updated the wrong elements."""
    x, y = _data()
    model = _net().to(memory_format=torch.channels_last).train()
    ref = copy.deepcopy(model)
    with Lanes(model, 2) as lanes:
        lanes.step(lambda net, lane: _share_loss(net, x, y, lane, 2))
        conv = model[0].weight
        assert conv.grad.stride() == conv.stride() and conv.is_contiguous(memory_format=torch.channels_last)
        grads = [p.grad.clone() for p in model.parameters()]
        torch.optim.AdamW(list(model.parameters()), 0.1, weight_decay=0.0, fused=True).step()
    for q, g in zip(ref.parameters(), grads, strict=True):
        q.grad = g.contiguous()                # the reference: an unfused AdamW on the same gradients
    torch.optim.AdamW(list(ref.parameters()), 0.1, weight_decay=0.0, foreach=False).step()
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q)
