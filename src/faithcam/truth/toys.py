"""Small models built in code whose head makes one thing hard for a CAM (see
:mod:`faithcam.truth.cases`). Every toy shares one backbone: a fixed random 3 × 3 convolution and
ReLU on 32 × 32 images, average-pooled to a 4 × 4 grid (16 locations: the truth is exact), named
``features`` (the layer every toy is explained at). Weights come from a seeded generator, so a
toy is the same model on every machine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CHANNELS, GRID, SIZE, CLASSES = 8, 4, 32, 3


def _seeded(module: nn.Module, seed: int) -> nn.Module:
    """Re-draw the weights of ``module`` from N(0, 1/fan-in) with ``seed``; biases are zero, so
    a black image has zero features and the score of the empty coalition is the same for a
    zero and a black baseline."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)
    return module


class Backbone(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.conv = _seeded(nn.Conv2d(3, CHANNELS, 3, padding=1), seed)
        self.pool = nn.AdaptiveAvgPool2d(GRID)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.conv(x)))


class Toy(nn.Module):
    """``features`` (the explained layer), then ``head``."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.features = Backbone(seed)

    def head(self, a: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class GapLinear(Toy):
    """logits = W · mean_ij A_ij + b."""

    def __init__(self, seed: int = 1) -> None:
        super().__init__(seed)
        self.fc = _seeded(nn.Linear(CHANNELS, CLASSES), seed + 100)

    def head(self, a):
        return self.fc(a.mean((2, 3)))


class FlattenLinear(Toy):
    """logits = W · vec(A) + b: a weight per channel and location."""

    def __init__(self, seed: int = 2) -> None:
        super().__init__(seed)
        self.fc = _seeded(nn.Linear(CHANNELS * GRID * GRID, CLASSES), seed + 100)

    def head(self, a):
        return self.fc(a.flatten(1))


class MaskedHead(GapLinear):
    """logits = W · mean_{ij ∈ M} A_ij + b over a fixed half of the grid (the left columns):
    the other half is never used."""

    def __init__(self, seed: int = 3) -> None:
        super().__init__(seed)
        mask = torch.zeros(1, 1, GRID, GRID)
        mask[..., : GRID // 2] = 1.0
        self.register_buffer("mask", mask)

    def head(self, a):
        return self.fc((a * self.mask).sum((2, 3)) / self.mask.sum())


class Saturating(Toy):
    """score = 1 − ReLU(1 − z), z = s · (w · mean_ij A_ij) + t: capped at 1, with ``scale`` s
    and ``shift`` t set by :meth:`calibrate` so that most images saturate."""

    def __init__(self, seed: int = 4) -> None:
        super().__init__(seed)
        self.fc = _seeded(nn.Linear(CHANNELS, 1), seed + 100)
        with torch.no_grad():  # non-negative weights on ReLU features: z grows with evidence
            self.fc.weight.abs_()
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("shift", torch.zeros(()))

    def logit(self, a):
        return self.scale * self.fc(a.mean((2, 3))) + self.shift

    def head(self, a):
        return 1 - F.relu(1 - self.logit(a))

    def calibrate(self, images: torch.Tensor, saturated: float = 0.75) -> Saturating:
        """z = 0 without evidence (A = 0) and z = 1 at the (1 − ``saturated``) quantile of the
        images, so that a share ``saturated`` of them sit on the cap (zero gradient)."""
        with torch.no_grad():
            evidence = self.fc(self.features(images).mean((2, 3)))[:, 0] - self.fc.bias[0]
            level = float(torch.quantile(evidence, 1 - saturated))
            self.scale.fill_(1.0 / level if level > 0 else 1.0)
            self.shift.fill_(-float(self.scale * self.fc.bias[0]))
        return self


class Regions(Toy):
    """Evidence e_ij = ReLU(u · A_ij) summed over the left and right halves of the grid, r_L and
    r_R; the score is min(r_L, r_R) (AND: both halves needed) or max(r_L, r_R) (OR: either
    suffices)."""

    def __init__(self, mode: str, seed: int = 5) -> None:
        super().__init__(seed)
        self.mode = mode
        self.evidence = _seeded(nn.Conv2d(CHANNELS, 1, 1, bias=False), seed + 100)

    def head(self, a):
        e = F.relu(self.evidence(a))[:, 0]
        half = GRID // 2
        left, right = e[..., :half].sum((1, 2)), e[..., half:].sum((1, 2))
        pair = torch.stack([left, right], 1)
        score = pair.amin(1) if self.mode == "and" else pair.amax(1)
        return score[:, None]


class AttentionPool(Toy):
    """Attention pooling: α = softmax_ij(q · A_ij / τ), logits = W · Σ_ij α_ij A_ij + b.
    Locations compete: removing one re-weights all others."""

    def __init__(self, seed: int = 6, temperature: float = 0.25) -> None:
        super().__init__(seed)
        self.query = _seeded(nn.Conv2d(CHANNELS, 1, 1, bias=False), seed + 100)
        self.fc = _seeded(nn.Linear(CHANNELS, CLASSES), seed + 200)
        self.temperature = temperature

    def head(self, a):
        weights = torch.softmax(self.query(a).flatten(1) / self.temperature, dim=1)
        pooled = torch.einsum("bn,bcn->bc", weights, a.flatten(2))
        return self.fc(pooled)


class Block(nn.Module):
    """A pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, seed: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        _seeded(self.attn, seed)
        _seeded(self.mlp, seed + 1)

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """A ViT-like token model: 8 × 8 patches of a 32 × 32 image (a 4 × 4 grid of tokens) and a
    class token, two blocks, the class token's readout. Explained at ``blocks.0`` (its output
    tokens), so the second block's attention mixes the players."""

    patch_size = 8
    num_prefix_tokens = 1

    def __init__(self, dim: int = 16, seed: int = 7) -> None:
        super().__init__()
        self.embed = _seeded(nn.Conv2d(3, dim, 8, stride=8), seed)
        g = torch.Generator().manual_seed(seed + 1)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim, generator=g) * 0.5)
        self.position = nn.Parameter(torch.randn(1, 1 + GRID * GRID, dim, generator=g) * 0.5)
        self.blocks = nn.Sequential(Block(dim, 2, seed + 2), Block(dim, 2, seed + 4))
        self.norm = nn.LayerNorm(dim)
        self.fc = _seeded(nn.Linear(dim, CLASSES), seed + 6)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], 1) + self.position
        return self.fc(self.norm(self.blocks(tokens))[:, 0])


def toy_images(n: int, seed: int) -> torch.Tensor:
    """(n, 3, 32, 32) images in [0, 1]: a dim noisy background and two to three bright
    squares of random colours and sizes (4 to 12 px) at random places."""
    g = torch.Generator().manual_seed(seed)
    images = 0.15 + 0.05 * torch.randn(n, 3, SIZE, SIZE, generator=g)
    for i in range(n):
        for _ in range(int(torch.randint(2, 4, (1,), generator=g))):
            side = int(torch.randint(4, 13, (1,), generator=g))
            top, left = (int(v) for v in torch.randint(0, SIZE - side + 1, (2,), generator=g))
            colour = torch.rand(3, 1, 1, generator=g)
            images[i, :, top : top + side, left : left + side] = colour
    return images.clamp(0, 1)
