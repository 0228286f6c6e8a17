"""The vision-transformer section of ``faithcam demo``: a ViT explained at the layer the
community uses (the first norm of the last block), where its patch tokens become a map.

No transformer weights are available offline, so the ViT is torchvision's architecture with
random weights (seeded; a smaller depth and width than ViT-B/16 to stay fast on a CPU) and a
re-initialised head (torchvision zero-initialises it, which would make every map zero). The maps
show that the token layout is read and the methods run, not what a trained ViT looks at; the
page says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from faithcam.api import explain
from faithcam.demo.settings import demo_options
from faithcam.io.report import Report
from faithcam.viz import method_grid

METHODS = ["expected-gradcam", "integrated-gradcam", "hirescam", "gradcam", "layercam"]


def random_vit(seed: int = 0) -> nn.Module:
    """torchvision's VisionTransformer, 224 x 224, 16 x 16 patches, 4 blocks of width 192."""
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    model = VisionTransformer(
        image_size=224, patch_size=16, num_layers=4, num_heads=3, hidden_dim=192, mlp_dim=768
    )
    nn.init.normal_(model.heads.head.weight, std=0.05)
    return model.eval()


def run_transformer_section(
    report: Report,
    images: torch.Tensor,
    display: torch.Tensor,
    normalization: tuple[tuple[float, ...], tuple[float, ...]],
    out_dir: Path,
    progress: Callable[[str], None],
) -> list[Path]:
    """Explain ``images`` (model inputs) with the random ViT; one grid per image."""
    model = random_vit()
    report.heading("Vision transformer (random weights: no ViT weights are available offline)")
    maps: dict[str, torch.Tensor] = {}
    layer = ""
    for method in METHODS:
        result = explain(
            model, images, method, seed=0, normalization=normalization,
            **demo_options(method, images),
        )  # fmt: skip
        maps[method], layer = result.maps, result.layer
        progress(f"vit: {method}")
    report.paragraph(
        f"torchvision VisionTransformer (4 blocks, width 192, 16 x 16 patches, seeded random "
        f"weights), automatic layer {layer!r}: its 14 x 14 patch tokens are read as a map and "
        "the class token is dropped. The maps show that the layout is handled; a random "
        "network's evidence is not meaningful.",
        note=True,
    )
    grids = []
    for i in range(len(images)):
        grid = method_grid(
            display[i],
            {m: maps[m][i] for m in METHODS},
            out_dir / f"vit-random-{i}.png",
            title=f"random-weight ViT, {layer}",
            columns=len(METHODS) + 1,
        )
        report.image(grid, f"random ViT {i}")
        grids.append(grid)
    return grids
