"""The image tokenizer of VQ-VAE / VQGAN: conv encoder -> quantiser -> conv decoder.

x (B, C, H, W) in [0, 1] -> encoder -> z_e (B, D, H/f, W/f) -> one code index per position (the token
grid, H/f x W/f tokens) -> decoder -> x_hat (B, C, H, W). f = 2^(number of stride-2 stages): f = 4
turns a 28 px digit into 7 x 7 tokens, f = 8 a 64 px photo into 8 x 8.

Rate: an image costs (H/f)(W/f) log2 K bits as tokens, against H W C 8 bits as raw pixels.
Loss (stage 1): ||x - x_hat||^2 + L_quantiser (+ the VQGAN terms of models/vqgan.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.vq import FSQQuantizer, LFQQuantizer, QuantOut, VectorQuantizer, VQConfig

QUANTIZERS = ("vq", "fsq", "lfq")


@dataclass
class TokenizerConfig:
    in_channels: int = 1
    image_size: int = 28
    downsample: int = 4           # f: 4 or 8
    width: int = 32               # channels of the first stage; later stages 2x
    latent_dim: int = 64          # D
    quantizer: str = "vq"         # "vq" (ours), "fsq" or "lfq" (vector-quantize-pytorch)
    num_codes: int = 512          # K (for fsq: prod(fsq_levels))
    code_dim: int = 64
    beta: float = 0.25
    ema: bool = False
    decay: float = 0.99
    kmeans_init: bool = False
    dead_after: int = 0
    l2: bool = False
    fsq_levels: tuple[int, ...] = (8, 8, 8)

    @property
    def stages(self) -> int:
        s = int(round(math.log2(self.downsample)))
        if 2 ** s != self.downsample or s < 1:
            raise ValueError(f"downsample must be a power of two >= 2, not {self.downsample}")
        return s

    @property
    def grid(self) -> int:
        return self.image_size // self.downsample


class ResBlock(nn.Module):
    """VQ-VAE's residual block: x + conv1x1(relu(conv3x3(relu(x))))."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c // 2, 3, padding=1), nn.ReLU(), nn.Conv2d(c // 2, c, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Encoder(nn.Module):
    """As in the VQ-VAE paper: stride-2 4x4 convolutions down to the token grid, then two residual
    blocks there (the cheap place for them), then a 1x1 map to D channels."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        h = 2 * cfg.width
        layers: list[nn.Module] = []
        c = cfg.in_channels
        for i in range(cfg.stages):                          # each stage halves H and W
            out = cfg.width if i < cfg.stages - 1 else h
            layers += [nn.Conv2d(c, out, 4, stride=2, padding=1), nn.ReLU()]
            c = out
        layers += [nn.Conv2d(h, h, 3, padding=1), ResBlock(h), ResBlock(h), nn.ReLU(), nn.Conv2d(h, cfg.latent_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)                                   # (B, D, H/f, W/f)


class Decoder(nn.Module):
    """The mirror image: 3x3 conv and two residual blocks on the grid, then stride-2 transposed
    convolutions back to the image size."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        h = 2 * cfg.width
        layers: list[nn.Module] = [nn.Conv2d(cfg.latent_dim, h, 3, padding=1), ResBlock(h), ResBlock(h), nn.ReLU()]
        c = h
        for _ in range(cfg.stages - 1):                      # each stage doubles H and W
            layers += [nn.ConvTranspose2d(c, cfg.width, 4, stride=2, padding=1), nn.ReLU()]
            c = cfg.width
        self.net = nn.Sequential(*layers)
        # the last layer (the adaptive weight of VQGAN is measured here)
        self.out = nn.ConvTranspose2d(c, cfg.in_channels, 4, stride=2, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        # linear output (as taming's): a sigmoid here saturates in the first steps, while every image
        # still maps to one code, and its gradient never comes back
        return self.out(self.net(z))                          # (B, C, H, W), about [0, 1]


def build_quantizer(cfg: TokenizerConfig) -> nn.Module:
    if cfg.quantizer == "vq":
        return VectorQuantizer(VQConfig(cfg.num_codes, cfg.latent_dim, cfg.code_dim, cfg.beta, cfg.ema, cfg.decay,
                                        cfg.kmeans_init, dead_after=cfg.dead_after, l2=cfg.l2))
    if cfg.quantizer == "fsq":
        return FSQQuantizer(cfg.latent_dim, cfg.fsq_levels)
    if cfg.quantizer == "lfq":
        return LFQQuantizer(cfg.latent_dim, cfg.num_codes, beta=cfg.beta)
    raise ValueError(f"unknown quantizer {cfg.quantizer!r}; known: {', '.join(QUANTIZERS)}")


class VQTokenizer(nn.Module):
    """x (B, C, H, W) -> (x_hat, QuantOut with indices (B, h, w)); ``encode`` / ``decode_indices`` for
    the token grids stage 2 works on."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = build_quantizer(cfg)
        self.decoder = Decoder(cfg)

    @property
    def num_codes(self) -> int:
        return self.quantizer.num_codes

    def quantize(self, x: Tensor) -> QuantOut:
        z = self.encoder(x)                                  # (B, D, h, w)
        b, d, h, w = z.shape
        q = self.quantizer(z.flatten(2).transpose(1, 2))     # over (B, h*w, D)
        q.quantized = q.quantized.transpose(1, 2).reshape(b, d, h, w)
        q.indices = q.indices.reshape(b, h, w)
        return q

    def forward(self, x: Tensor) -> tuple[Tensor, QuantOut]:
        q = self.quantize(x)
        return self.decoder(q.quantized), q

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> token grid (B, h, w) int64."""
        return self.quantize(x).indices

    def decode_indices(self, indices: Tensor) -> Tensor:
        """Token grid (B, h, w) -> images (B, C, H, W)."""
        z = self.quantizer.lookup(indices)                   # (B, h, w, D)
        return self.decoder(z.permute(0, 3, 1, 2).contiguous())


def rate_bits(cfg: TokenizerConfig, num_codes: int) -> tuple[float, float]:
    """(bits per image as tokens, bits per image as 8-bit pixels)."""
    tokens = cfg.grid ** 2
    return tokens * math.log2(num_codes), float(cfg.image_size ** 2 * cfg.in_channels * 8)


def reconstruction_loss(x: Tensor, x_hat: Tensor) -> Tensor:
    return F.mse_loss(x_hat, x)
