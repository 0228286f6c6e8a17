"""Small transformer and dense-task models for the tests: torchvision's ViT and Swin with small
dimensions, a DeiT-style ViT with a distillation token (or register tokens), seeded."""

from __future__ import annotations

import functools

import torch
from torch import nn
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import EncoderBlock, VisionTransformer


@functools.cache
def small_vit(seed: int = 0) -> VisionTransformer:
    """torchvision ViT, 64 x 64 inputs, 16 x 16 patches (a 4 x 4 grid + the class token)."""
    torch.manual_seed(seed)
    model = VisionTransformer(
        image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
        num_classes=10,
    ).eval()  # fmt: skip
    nn.init.normal_(model.heads.head.weight, std=0.5)  # torchvision zero-initialises the head
    return model


@functools.cache
def small_swin(seed: int = 0) -> SwinTransformer:
    """torchvision Swin (swin_t's structure, smaller): 128 x 128 inputs give a 4 x 4 last stage."""
    torch.manual_seed(seed)
    return SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[1, 1, 1, 2], num_heads=[1, 1, 2, 2],
        window_size=[2, 2], num_classes=10,
    ).eval()  # fmt: skip


class DeiTLike(nn.Module):
    """A ViT with ``extra`` tokens before the patch grid (DeiT: class + distillation = 2;
    DINOv2-style registers: class + 4 registers = 5); the head averages the first two."""

    def __init__(self, extra: int = 2, image: int = 64, patch: int = 16, dim: int = 32) -> None:
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.tokens = nn.Parameter(torch.randn(1, extra, dim) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, extra + (image // patch) ** 2, dim) * 0.1)
        self.blocks = nn.Sequential(*(EncoderBlock(2, dim, 64, 0.0, 0.0) for _ in range(2)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.conv_proj(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.tokens.expand(len(x), -1, -1), patches], dim=1) + self.pos
        out = self.norm(self.blocks(tokens))
        return self.head(out[:, : min(2, self.tokens.shape[1])].mean(1))


@functools.cache
def deit_like(extra: int = 2, seed: int = 0) -> DeiTLike:
    torch.manual_seed(seed)
    return DeiTLike(extra).eval()


def token_transform(extra: int, h: int, w: int):
    """The peer-style reshape transform: drop ``extra`` tokens, (B, N, C) -> (B, C, h, w)."""

    def reshape(tensor: torch.Tensor) -> torch.Tensor:
        grid = tensor[:, extra:, :].reshape(tensor.size(0), h, w, tensor.size(2))
        return grid.permute(0, 3, 1, 2)

    return reshape
