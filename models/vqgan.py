"""The "GAN" in VQGAN (Esser et al. 2021): a patch discriminator, hinge losses and the adaptive weight.

A pixel loss alone makes blurry reconstructions (the mean of the plausible images). VQGAN adds a
PatchGAN discriminator D (pix2pix's: a stack of stride-2 convs whose output is one real/fake logit
per overlapping patch) and, once training has settled (``start_step``), trains both with hinge losses

    L_D = 1/2 (E[max(0, 1 - D(x))] + E[max(0, 1 + D(x_hat))])      L_GAN = -E[D(x_hat)]

The generator's term is weighted adaptively, at the decoder's last layer G_L:

    lambda = ||grad_{G_L} L_rec|| / (||grad_{G_L} L_GAN|| + 1e-4)

so the adversarial gradient reaching the decoder is as large as the reconstruction gradient whatever
the two losses' scales. A perceptual term (LPIPS) joins the reconstruction loss when its network
weights are on disk; this lab never downloads them, and says so when they are missing.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class PatchDiscriminator(nn.Module):
    """x (B, C, H, W) -> logits (B, 1, H', W'), one per receptive-field patch."""

    def __init__(self, in_channels: int = 1, width: int = 32, layers: int = 2):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        c = width
        for _ in range(1, layers):
            mods += [nn.Conv2d(c, c * 2, 4, stride=2, padding=1), nn.BatchNorm2d(c * 2), nn.LeakyReLU(0.2)]
            c *= 2
        mods += [nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.LeakyReLU(0.2), nn.Conv2d(c, 1, 3, padding=1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def hinge_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())


def generator_loss(fake_logits: Tensor) -> Tensor:
    return -fake_logits.mean()


def adaptive_weight(rec_loss: Tensor, gan_loss: Tensor, last_layer: Tensor, max_weight: float = 1e4) -> Tensor:
    """lambda = ||dL_rec/dG_L|| / (||dL_GAN/dG_L|| + 1e-4), detached and clamped to [0, max_weight]."""
    g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_gan = torch.autograd.grad(gan_loss, last_layer, retain_graph=True)[0]
    return (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0.0, max_weight).detach()


def lpips_or_reason() -> tuple[nn.Module | None, str]:
    """(an LPIPS module, "") when the ``lpips`` package and the VGG weights it needs are on disk, else
    (None, why not). Never downloads."""
    try:
        import lpips  # noqa: F401
    except ImportError:
        return None, "LPIPS off: the 'lpips' package is not installed (training without the perceptual term)"
    vgg = Path(torch.hub.get_dir()) / "checkpoints" / "vgg16-397923af.pth"
    if not vgg.is_file():
        return None, f"LPIPS off: VGG-16 weights not on disk ({vgg}); training without the perceptual term"
    import lpips

    return lpips.LPIPS(net="vgg", verbose=False).eval().requires_grad_(False), "LPIPS on (VGG-16)"


def perceptual_loss(net: nn.Module, x: Tensor, x_hat: Tensor) -> Tensor:
    """LPIPS expects 3 channels in [-1, 1]."""
    def prep(t: Tensor) -> Tensor:
        return (t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t) * 2 - 1

    return net(prep(x_hat), prep(x)).mean()
