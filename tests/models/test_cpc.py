"""CPC and the relative-position pretext: the grid covers the image, the context is row-causal,
InfoNCE with an oracle critic reaches log N, pretext labels are right on hand-made images."""

import math

import numpy as np
import pytest
import torch

from models.cpc import (
    CPC,
    NEIGHBOURS,
    CPCConfig,
    PatchPosition,
    PatchPositionConfig,
    cpc_loss,
    cpc_step_scores,
    grid_size,
    info_nce,
    patch_grid,
    relative_position_pairs,
    sample_candidates,
)


@pytest.mark.parametrize("side,patch,stride,expected",
                         [(28, 8, 4, 6), (28, 10, 3, 7), (30, 8, 4, 7), (8, 8, 4, 1)])
def test_grid_size(side, patch, stride, expected):
    assert grid_size(side, patch, stride) == expected


@pytest.mark.parametrize("side,patch,stride", [(28, 8, 4), (30, 8, 4), (28, 7, 5)])
def test_patch_grid_covers_every_pixel_and_cuts_where_stated(side, patch, stride):
    x = torch.arange(2 * side * side, dtype=torch.float32).reshape(2, 1, side, side) + 1  # no zero pixel
    tiles = patch_grid(x, patch, stride)
    g = grid_size(side, patch, stride)
    assert tiles.shape == (2, g, g, 1, patch, patch)
    covered = np.zeros((side, side), int)
    for i in range(g):
        for j in range(g):
            top, left = i * stride, j * stride
            inside = x[1, 0, top : top + patch, left : left + patch]  # clipped at the border
            h, w = inside.shape
            assert torch.equal(tiles[1, i, j, 0, :h, :w], inside)
            assert torch.all(tiles[1, i, j, 0, h:, :] == 0) and torch.all(tiles[1, i, j, 0, :, w:] == 0)
            covered[top : top + patch, left : left + patch] += 1
    assert covered.min() >= 1  # every pixel is in some patch
    if (side - patch) % stride == 0:
        assert (g - 1) * stride + patch == side  # no padding needed: the grid ends at the border


def test_patch_bigger_than_image_is_refused():
    with pytest.raises(ValueError, match="larger than the image"):
        grid_size(8, 10, 2)


def test_context_is_causal_in_rows():
    torch.manual_seed(0)
    model = CPC(CPCConfig(embed_dim=8, context_dim=12, steps_ahead=2)).eval()
    z = torch.randn(2, 8, 6, 6)
    c = model.context(z)
    for row in range(6):
        z2 = z.clone()
        z2[:, :, row] += torch.randn(2, 8, 6)  # change only a later row of patch encodings
        c2 = model.context(z2)
        assert torch.equal(c2[:, :, :row], c[:, :, :row])  # earlier contexts unchanged, bit for bit
        assert not torch.allclose(c2[:, :, row], c[:, :, row])  # the row itself is seen
    # The same through the whole model: changing the image's bottom patch row leaves upper contexts alone.
    x = torch.rand(1, 1, 28, 28)
    x2 = x.clone()
    x2[:, :, 24:] = torch.rand(1, 1, 4, 28)  # pixels only in grid row 5 (rows 20..27 minus row 4's 16..23)
    _, c_a = model(x)
    _, c_b = model(x2)
    assert torch.equal(c_a[:, :, :5], c_b[:, :, :5]) and not torch.equal(c_a[:, :, 5], c_b[:, :, 5])


def test_candidates_put_the_positive_first_and_never_repeat_it():
    gen = torch.Generator().manual_seed(0)
    positive = torch.tensor([0, 5, 9, 3])
    cand = sample_candidates(positive, 10, 200, gen)
    assert cand.shape == (4, 201) and torch.equal(cand[:, 0], positive)
    assert not (cand[:, 1:] == positive[:, None]).any()
    assert cand.min() >= 0 and cand.max() <= 9
    assert len(torch.unique(cand[1, 1:])) == 9  # every other pool member can be a negative


def test_info_nce_with_an_oracle_critic_reaches_log_n():
    n = 32
    scores = torch.zeros(100, n)
    scores[:, 0] = 40.0  # a critic that knows which candidate is the true one
    loss, bound, acc = info_nce(scores)
    assert bound == pytest.approx(math.log(n), abs=1e-6) and acc == 1.0
    # And a critic that cannot tell them apart: L = log N, bound 0, and a tie among all N is worth
    # 1/N, not the win that argmax (first maximum, the positive's column) would give.
    loss, bound, acc = info_nce(torch.zeros(100, n))
    assert loss == pytest.approx(math.log(n)) and bound == pytest.approx(0.0, abs=1e-6)
    assert acc == pytest.approx(1 / n)
    tied_pair = torch.tensor([[2.0, 2.0, 0.0, 1.0]])  # the positive ties with one negative
    assert info_nce(tied_pair)[2] == pytest.approx(0.5)


def test_oracle_predictor_through_cpc_step_scores_reaches_log_n():
    """Encodings that are one-hot codes of their position and a predictor that maps a context to
    the code k rows down: every query scores its positive highest, and the bound is log N."""
    b, gh, gw, k = 3, 5, 4, 2
    d = b * gh * gw
    z = torch.eye(d).reshape(b, gh, gw, d).permute(0, 3, 1, 2) * 30.0  # (B, D, Gh, Gw)
    c = z.clone()

    class Shift(torch.nn.Module):  # c_{i,j} = code(i, j) -> code(i + k, j)
        def forward(self, q):
            return torch.roll(q, shifts=k * gw, dims=1) / 30.0

    scores, cand = cpc_step_scores(z, c, Shift(), k, negatives=15, generator=torch.Generator().manual_seed(1))
    assert scores.shape == (b * (gh - k) * gw, 16)
    _, bound, acc = info_nce(scores)
    assert acc == 1.0 and bound == pytest.approx(math.log(16), abs=1e-4)


def test_cpc_loss_reports_every_k_and_backpropagates():
    torch.manual_seed(0)
    model = CPC(CPCConfig(width=4, embed_dim=8, context_dim=8, steps_ahead=3, negatives=7))
    loss, per_k = cpc_loss(model, torch.rand(4, 1, 28, 28), torch.Generator().manual_seed(0))
    assert per_k["bound"].shape == (3,) and torch.all(per_k["bound"] <= math.log(8) + 1e-6)
    loss.backward()
    assert model.predictors[2].weight.grad.abs().sum() > 0 and model.encoder.net[0].weight.grad is not None
    assert model.features(torch.rand(5, 1, 28, 28)).shape == (5, 32)  # 2 x 2 pooled grid of D = 8


# ------------------------------------------------------------------------------- relative position


def test_relative_position_labels_on_a_hand_made_image():
    """Each pixel holds its own coordinates, so a patch's corner says where it was cut."""
    side, patch, gap = 28, 8, 2
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    image = torch.stack([yy, xx]).float()[None].repeat(8, 1, 1, 1)  # (8, 2, 28, 28): channel 0 row, 1 col
    labels = torch.arange(8)
    a, b, got, corners = relative_position_pairs(image, patch, gap, 0, labels=labels)
    assert torch.equal(got, labels)
    # 3 * 8 + 2 * 2 = 28: no slack, no jitter, so the centre patch starts at (10, 10) exactly.
    assert torch.all(a[:, 0, 0, 0] == 10) and torch.all(a[:, 1, 0, 0] == 10)
    expected_b = {0: (0, 0), 1: (0, 10), 2: (0, 20), 3: (10, 0), 4: (10, 20),
                  5: (20, 0), 6: (20, 10), 7: (20, 20)}
    for label, (top, left) in expected_b.items():
        assert (b[label, 0, 0, 0].item(), b[label, 1, 0, 0].item()) == (top, left), NEIGHBOURS[label]
        assert tuple(corners[label, 1].tolist()) == (top, left)
    # Label 1 is "above": b's last row ends gap pixels before a's first row.
    assert b[1, 0, -1, 0] + 1 + gap == a[1, 0, 0, 0]


def test_relative_position_with_jitter_stays_inside_and_near_its_cell():
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(64, 1, 28, 28)
    a, b, labels, corners = relative_position_pairs(image, 7, 2, 1, gen)
    assert corners.min() >= 0 and (corners + 7).max() <= 28
    step = (corners[:, 1] - corners[:, 0]).float() / 9  # cell = 7 + 2
    assert torch.all((step - torch.tensor(NEIGHBOURS).float()[labels]).abs() <= 2 / 9 + 1e-6)
    for i in range(3):  # the crops are the pixels at the stated corners
        (ta, la), (tb, lb) = corners[i].tolist()
        assert torch.equal(a[i], image[i, :, ta : ta + 7, la : la + 7])
        assert torch.equal(b[i], image[i, :, tb : tb + 7, lb : lb + 7])


def test_relative_position_layout_too_big_is_refused_with_sizes():
    with pytest.raises(ValueError, match="needs 30 px; the images are 28 px"):
        relative_position_pairs(torch.rand(2, 1, 28, 28), 8, 2, 1)


def test_patch_position_model_shapes():
    model = PatchPosition(PatchPositionConfig(width=4, embed_dim=8))
    logits = model(torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8))
    assert logits.shape == (3, 8)
