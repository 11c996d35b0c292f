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

SMALL = PointNetConfig(num_classes=4, points=128, local_widths=(16,), global_widths=(32, 64),
                       head_widths=(32,), tnet_widths=(8, 16, 32))


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


def _skewed_cloud(n: int = 600, seed: int = 0) -> torch.Tensor:
    """(1, n, 3): distinct spreads along x, y, z and skewed along each, so the pose is well defined."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, n, 3, generator=g) * torch.tensor([0.3, 0.2, 0.1])
    return x + 0.8 * x.pow(2)


def _random_rotation(seed: int = 1) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed)))
    return q * torch.sign(torch.linalg.det(q))


def test_principal_axes_pose_ignores_the_points_of_weight_zero():
    from models.pointnet import principal_axes_pose

    x = _skewed_cloud()
    clean = principal_axes_pose(x)
    # 30 far outliers replace points, and the whole cloud is rotated and moved.
    noisy = x.clone()
    far = 0.3 * torch.randn(30, 3, generator=torch.Generator().manual_seed(2))
    noisy[0, :30] = torch.tensor([1.5, -1.2, 0.9]) + far
    noisy = noisy @ _random_rotation().T + torch.tensor([0.4, -0.2, 0.1])
    keep = torch.ones(1, 600, dtype=torch.bool)
    keep[0, :30] = False
    robust = principal_axes_pose(noisy, keep)
    clean_rest = principal_axes_pose(x[:, 30:])
    assert torch.allclose(robust[:, 30:], clean_rest, atol=1e-4)
    # Unweighted, the outliers move the axes: the test above is not vacuous.
    assert not torch.allclose(principal_axes_pose(noisy)[:, 30:], clean_rest, atol=1e-2)
    assert clean.shape == robust.shape


def test_equalised_pose_undoes_a_stretch_along_the_principal_axes():
    from models.pointnet import principal_axes_pose

    x = _skewed_cloud()
    base = principal_axes_pose(x, equalise=True)
    spread = base.pow(2).mean(dim=1)
    assert torch.allclose(spread, spread.mean().expand(1, 3), rtol=1e-4)   # three equal spreads
    # Stretch the cloud along its own axes (the order of the spreads kept), then rotate it.
    centred = x - x.mean(dim=1, keepdim=True)
    _, axes = torch.linalg.eigh((centred.transpose(1, 2) @ centred)[0].double())
    axes = axes.float()
    stretched = ((centred @ axes) * torch.tensor([0.8, 1.0, 1.2])) @ axes.T @ _random_rotation(3).T
    out = principal_axes_pose(stretched, equalise=True)
    assert torch.allclose(out / out.std(), base / base.std(), atol=1e-4)
    # Without equalising, the stretch stays visible.
    plain = principal_axes_pose(stretched)
    assert not torch.allclose(plain / plain.std(), base / base.std(), atol=1e-2)


FAR_APART = torch.tensor([[0.0, 0.0, 0.0], [0.25, 0.0, 0.0], [0.0, -0.25, 0.1], [-0.2, 0.15, -0.15],
                          [0.0, 0.0, 0.95], [-0.8, 0.6, 0.0]])


def _sphere_with_outliers(n: int = 1024, stretch=(1.0, 1.0, 1.0), seed: int = 0):
    """A surface of n points: a sphere of radius 0.6 (the size of a Shapes cloud) stretched along
    its axes; four of the points moved inside it and two outside, apart from each other and from
    the surface.
    Returns (points (1, n, 3), outlier mask (1, n))."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, n, 3, generator=g)
    x = 0.6 * x / x.norm(dim=2, keepdim=True) * torch.tensor(stretch)
    idx = torch.randperm(n, generator=g)[:len(FAR_APART)]
    x[0, idx] = FAR_APART
    truth = torch.zeros(1, n, dtype=torch.bool)
    truth[0, idx] = True
    return x, truth


def test_isolated_points_are_the_outliers_at_any_cloud_size():
    from models.pointnet import isolated_points

    x, truth = _sphere_with_outliers()
    assert torch.equal(isolated_points(x, 0.16), truth)
    # A random half of the cloud is judged with a cell sqrt(2) larger: the same points stand out.
    half = torch.randperm(1024, generator=torch.Generator().manual_seed(1))[:512]
    half = torch.cat([torch.nonzero(truth[0]).flatten(), half[~truth[0, half]]])[:512]
    assert torch.equal(isolated_points(x[:, half], 0.16), truth[:, half])
    # With a cell too small for the density, surface points are alone too: the test can fail.
    assert isolated_points(x, 0.03).sum() > 100


def test_ignored_outliers_change_nothing_and_are_never_critical():
    cfg = PointNetConfig(**{**SMALL.to_dict(), "points": 1024, "canonical_pose": True, "equalise_axes": True,
                            "outlier_cell": 0.16})
    torch.manual_seed(0)
    model = PointNet(cfg)
    model.train()
    for _ in range(3):
        model(torch.randn(4, 1024, 3))
    model.eval()
    x, truth = _sphere_with_outliers(stretch=(1.0, 0.85, 0.7))
    keep = model.inliers(x)
    assert torch.equal(~keep, truth)
    # The same cloud without its outliers: the same output.
    with torch.no_grad():
        a, b = model(x), model(x[:, ~truth[0]])
        c = PointNet(PointNetConfig(**{**cfg.to_dict(), "outlier_cell": 0.0}))
        c.load_state_dict(model.state_dict())
        plain = c.eval()(x)
    assert torch.allclose(a.logits, b.logits, atol=1e-5)
    assert not truth[0, a.critical[0]].any()
    # Without the filter they count: they move the pose and win channels of the max-pool.
    assert not torch.allclose(a.global_feature, plain.global_feature, atol=1e-2)
    assert truth[0, plain.critical[0]].any()


@pytest.mark.parametrize("tnets", [True, False])
def test_inference_path_matches_the_modules(tnets):
    """Without autograd, eval mode folds BatchNorm into the Linear layers, pools with amax and finds
    the critical points on demand: the same numbers as the modules (run with autograd on)."""
    torch.manual_seed(0)
    cfg = PointNetConfig(**{**SMALL.to_dict(), "input_transform": tnets, "feature_transform": tnets})
    model = PointNet(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(3, 128, 3)
    for _ in range(2):
        model.train()
        for _ in range(3):
            loss = model(torch.randn(8, 128, 3)).logits.pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.enable_grad():
            ref = model(x)
        with torch.no_grad():
            fast = model(x)
        with torch.inference_mode():
            fastest = model(x)
        # Checked twice: the second time after more training steps, so a stale fold would show.
        assert torch.allclose(fast.logits, ref.logits, atol=1e-5)
        assert torch.allclose(fastest.logits, ref.logits, atol=1e-5)
        assert torch.equal(fast.critical, ref.critical)
