"""The written-out quantizer on tiny hand-made tensors, and the FSQ/LFQ wrappers."""

from __future__ import annotations

import math

import pytest
import torch

from models.vq import (
    FSQQuantizer,
    LFQQuantizer,
    VectorQuantizer,
    VQConfig,
    code_counts,
    kmeans,
    nearest_code,
    perplexity,
)


def quantizer(codebook: torch.Tensor, **kw) -> VectorQuantizer:
    k, d = codebook.shape
    q = VectorQuantizer(VQConfig(num_codes=k, dim=d, code_dim=d, **kw))
    with torch.no_grad():
        q.codebook.copy_(codebook)
        q.ema_sum.copy_(codebook)
    return q


CODEBOOK = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])


def test_nearest_code_by_distance():
    z = torch.tensor([[0.1, 0.1], [0.9, -0.2], [0.2, 1.4], [10.0, 0.0]])
    assert nearest_code(z, CODEBOOK).tolist() == [0, 1, 2, 1]


def test_same_indices_as_vector_quantize_pytorch_with_the_same_codebook():
    from vector_quantize_pytorch import VectorQuantize

    torch.manual_seed(0)
    k, d = 32, 8
    codebook = torch.randn(k, d)
    z = torch.randn(4, 50, d)
    ref = VectorQuantize(dim=d, codebook_size=k).eval()
    with torch.no_grad():
        ref._codebook.embed.copy_(codebook[None])
    _, ref_idx, _ = ref(z)
    ours = quantizer(codebook).eval()
    assert torch.equal(ours(z).indices, ref_idx.long())


def test_straight_through_passes_the_decoder_gradient_unchanged():
    q = quantizer(CODEBOOK).eval()
    z = torch.tensor([[[0.2, 0.1], [0.7, 0.3], [0.1, 1.7]]], requires_grad=True)
    out = q(z)
    assert torch.allclose(out.quantized, CODEBOOK[[0, 1, 2]][None])       # forward: the codes
    upstream = torch.tensor([[[1.0, -2.0], [3.0, 0.5], [-1.5, 4.0]]])
    (out.quantized * upstream).sum().backward()                              # a "decoder" gradient
    assert torch.equal(z.grad, upstream)


def test_losses_on_a_hand_made_case_beta_on_the_commitment_term():
    q = quantizer(CODEBOOK, beta=0.25).eval()
    z = torch.tensor([[[0.5, 0.0], [1.0, 1.0]]], requires_grad=True)
    # nearest codes: [0,0] (distance^2 0.25) and [1,0] (distance^2 1.0) -> mean over 4 entries = 1.25/4
    out = q(z)
    assert out.indices.tolist() == [[0, 1]]
    assert out.codebook_loss.item() == pytest.approx(1.25 / 4)
    assert out.commitment_loss.item() == pytest.approx(1.25 / 4)
    assert out.loss.item() == pytest.approx(1.25 / 4 * (1 + 0.25))
    out.loss.backward()
    # d/dz of beta * ||z - sg[e]||^2 / 4 only: the codebook term does not reach the encoder
    expected_z = 0.25 * 2 * (z.detach() - CODEBOOK[[0, 1]][None]) / 4
    assert torch.allclose(z.grad, expected_z)
    # d/de of ||sg[z] - e||^2 / 4 only: the commitment term does not reach the codebook
    expected_e = torch.zeros_like(CODEBOOK)
    expected_e[0] = -2 * (torch.tensor([0.5, 0.0]) - CODEBOOK[0]) / 4
    expected_e[1] = -2 * (torch.tensor([1.0, 1.0]) - CODEBOOK[1]) / 4
    assert torch.allclose(q.codebook.grad, expected_e)


def test_ema_update_moves_chosen_codes_to_the_average_and_keeps_unchosen_ones():
    q = quantizer(CODEBOOK, ema=True, decay=0.5, eps=0.0).train()
    z = torch.tensor([[[0.2, 0.0], [0.4, 0.0], [1.0, 0.6]]])     # two vectors for code 0, one for code 1
    q(z)
    # counts N = 0.5 * 1 + 0.5 * n = [1.5, 1.0, 0.5]; sums m = 0.5 e + 0.5 * sum z
    m0 = 0.5 * CODEBOOK[0] + 0.5 * torch.tensor([0.6, 0.0])
    m1 = 0.5 * CODEBOOK[1] + 0.5 * torch.tensor([1.0, 0.6])
    assert torch.allclose(q.ema_count, torch.tensor([1.5, 1.0, 0.5]))
    assert torch.allclose(q.codebook[0], m0 / 1.5)
    assert torch.allclose(q.codebook[1], m1 / 1.0)
    assert torch.allclose(q.codebook[2], CODEBOOK[2])              # m2 / N2 = (0.5 e2) / 0.5
    assert not q.codebook.requires_grad


def test_a_code_unused_for_the_threshold_restarts_on_a_batch_vector():
    q = quantizer(CODEBOOK, dead_after=2).train()
    z = torch.tensor([[[0.1, 0.0], [0.9, 0.1]]])                   # code 2 is never chosen
    q(z)
    assert torch.equal(q.codebook[2].detach(), CODEBOOK[2])        # one unused batch: still waiting
    assert q.unused_for.tolist() == [0, 0, 1]
    q(z)
    new = q.codebook[2].detach()
    assert any(torch.equal(new, v) for v in z[0])                  # now a vector of the batch
    assert q.unused_for[2].item() == 0


def test_kmeans_init_puts_codes_on_the_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-5.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    x = torch.cat([c + 0.1 * torch.randn(40, 2, generator=g) for c in centres])
    got = kmeans(x, 3, iters=20, generator=torch.Generator().manual_seed(1))
    for c in centres:
        assert (got - c).norm(dim=1).min() < 0.1
    q = VectorQuantizer(VQConfig(num_codes=3, dim=2, code_dim=2, kmeans_init=True)).train()
    q.generator = torch.Generator().manual_seed(1)
    q(x[None])
    assert bool(q.initialised)
    assert all((q.codebook.detach() - c).norm(dim=1).min() < 0.1 for c in centres)


def test_l2_codes_and_low_dimensional_lookup():
    torch.manual_seed(0)
    q = VectorQuantizer(VQConfig(num_codes=16, dim=12, code_dim=3, l2=True)).eval()
    z = torch.randn(2, 5, 12)
    out = q(z)
    assert out.quantized.shape == (2, 5, 12)
    assert torch.allclose(q.codes().norm(dim=1), torch.ones(16), atol=1e-6)
    # the nearest code of unit vectors is the one of highest cosine similarity
    z_low = torch.nn.functional.normalize(q.project_in(z).reshape(10, 3), dim=1)
    assert torch.equal(out.indices.flatten(), (z_low @ q.codes().t()).argmax(1))
    assert torch.allclose(q.lookup(out.indices), out.quantized, atol=1e-6)


@pytest.mark.parametrize("make", [lambda: FSQQuantizer(6, (8, 5, 5)), lambda: LFQQuantizer(6, 64)])
def test_fsq_and_lfq_wrappers_round_trip_indices(make):
    torch.manual_seed(0)
    q = make().eval()
    z = torch.randn(3, 7, 6)
    out = q(z)
    assert out.indices.shape == (3, 7) and out.indices.dtype == torch.long
    assert 0 <= int(out.indices.min()) and int(out.indices.max()) < q.num_codes
    assert torch.allclose(q.lookup(out.indices), out.quantized, atol=1e-5)
    assert len(q.codes()) == q.num_codes
    # every index has its own code vector (lookup is one-to-one)
    vectors = q.lookup(torch.arange(q.num_codes))
    assert len(torch.unique(vectors.round(decimals=4), dim=0)) == q.num_codes


def test_perplexity_is_k_for_uniform_use_and_1_for_one_code():
    assert perplexity(torch.tensor([5, 5, 5, 5])) == pytest.approx(4.0)
    assert perplexity(torch.tensor([0, 9, 0, 0])) == pytest.approx(1.0)
    assert perplexity(torch.tensor([1, 1, 2, 0])) == pytest.approx(math.exp(-(0.5 * math.log(0.25) + 0.5 * math.log(0.5))))
    assert code_counts(torch.tensor([[0, 2], [2, 2]]), 4).tolist() == [1, 0, 3, 0]
