"""PointNet: order invariance, the transform regulariser, critical points, shapes, over-fitting."""

import numpy as np
import pytest
import torch

from models.pointnet import (
    PointNet,
    PointNetConfig,
    critical_point_indices,
    orthogonality_regulariser,
    pointnet_loss,
)

SMALL = PointNetConfig(num_classes=4, points=128, local_widths=(16,), global_widths=(32, 64), head_widths=(32,),
                       tnet_widths=(8, 16, 32))


@pytest.mark.parametrize("tnets", [True, False])
def test_output_is_invariant_to_the_order_of_points(tnets):
    torch.manual_seed(0)
    cfg = PointNetConfig(**{**SMALL.to_dict(), "input_transform": tnets, "feature_transform": tnets})
    model = PointNet(cfg)
    # Make BatchNorm's running statistics non-trivial, then evaluate.
    model.train()
    for _ in range(3):
        model(torch.randn(8, 128, 3))
    model.eval()
    x = torch.randn(5, 128, 3)
    perm = torch.randperm(128)
    with torch.no_grad():
        a, b = model(x), model(x[:, perm])
    assert torch.allclose(a.logits, b.logits, atol=1e-5)
    assert torch.allclose(a.global_feature, b.global_feature, atol=1e-5)
    # The critical points are the same points, under their new indices.
    assert torch.equal(perm[b.critical], a.critical)


def test_shapes_and_critical_points():
    model = PointNet(SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 100, 3))
    assert out.logits.shape == (3, 4) and out.critical.shape == (3, 64)
    assert out.feature_transform.shape == (3, 16, 16)
    crit = critical_point_indices(out.critical)
    assert all(1 <= len(c) <= 64 and c.max() < 100 for c in crit)
    # Only critical points matter: dropping every other point leaves the global feature unchanged.
    x = torch.randn(1, 100, 3)
    with torch.no_grad():
        full = model(x)
        keep = critical_point_indices(full.critical)[0]
        only = model(x[:, keep])
    assert torch.allclose(full.global_feature, only.global_feature, atol=1e-6)


def test_transform_nets_start_as_identity():
    model = PointNet(SMALL)
    x = torch.randn(2, 50, 3)
    assert torch.allclose(model.input_tnet(x), torch.eye(3).expand(2, 3, 3))


def test_regulariser_is_zero_for_orthogonal_matrices_and_positive_otherwise():
    q, _ = torch.linalg.qr(torch.randn(4, 16, 16, dtype=torch.float64))
    assert orthogonality_regulariser(q).item() == pytest.approx(0.0, abs=1e-20)
    assert orthogonality_regulariser(2 * q).item() == pytest.approx(16 * 9, rel=1e-9)  # ||I - 4I||^2 = 9*16


def test_loss_includes_the_regulariser():
    torch.manual_seed(0)
    model = PointNet(SMALL)
    out = model(torch.randn(4, 64, 3))
    y = torch.tensor([0, 1, 2, 3])
    plain = pointnet_loss(out, y, 0.0)
    reg = pointnet_loss(out, y, 1.0)
    assert reg.item() == pytest.approx(plain.item() + orthogonality_regulariser(out.feature_transform).item(),
                                       rel=1e-5)


def test_a_batch_is_overfit():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(8, 64, 3)).astype(np.float32))
    y = torch.arange(8) % 4
    model = PointNet(SMALL)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = pointnet_loss(model(x), y, 1e-3)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert (model(x).logits.argmax(1) == y).all()


def test_principal_axes_pose_undoes_rotations():
    from models.pointnet import principal_axes_pose

    torch.manual_seed(0)
    x = torch.randn(1, 500, 3) * torch.tensor([3.0, 1.5, 0.5]) + torch.tensor([0.0, 0.0, 0.3])
    x = x + 0.5 * x.pow(2)   # skewed along every axis, so the signs are well defined
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    q = q * torch.sign(torch.linalg.det(q))
    a, b = principal_axes_pose(x), principal_axes_pose(x @ q.T)
    assert torch.allclose(a, b, atol=1e-4)
