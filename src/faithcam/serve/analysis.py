"""The numbers the page shows, all through faithcam's public API: top-5 classes, the resolved
layer, one method's map, and its deletion / insertion AUC and energy in a box.

Deletion and insertion are RISE's (Petsiuk et al., BMVC 2018) as ``faithcam demo`` runs them:
deletion to pixel black (lower is better), insertion from a blurred copy (higher is better),
the target's softmax probability, ``steps`` steps. Energy in the box is the energy-based
pointing game (Wang et al., Score-CAM, CVPRW 2020): Σ_box L / Σ L, the share of the map's mass
inside the box the user drew.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import faithcam
from faithcam.errors import FaithcamError
from faithcam.metrics import deletion, energy_pointing_game, insertion
from faithcam.serve.choices import MAX_STEPS, method_options
from faithcam.serve.errors import RequestError

TOP_K = 5

Normalization = tuple[tuple[float, ...], tuple[float, ...]]
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ClassScore:
    class_id: int
    name: str
    probability: float


def class_probabilities(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Softmax over the model's (1, classes) output; anything else is refused with a message."""
    try:
        with torch.inference_mode():
            outputs = model(inputs)
    except Exception as error:  # the user's model: say what it was given
        text = " ".join(str(error).split())
        raise RequestError(
            f"model: fails on a {tuple(inputs.shape)} input ({type(error).__name__}: {text}); "
            "for a model file, give its input size with faithcam serve --size"
        ) from None
    if not isinstance(outputs, torch.Tensor) or outputs.ndim != 2 or len(outputs) != 1:
        shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs)
        raise RequestError(
            f"model: its output for one image is {shape}, not (1, classes) class scores; the "
            "page explains classifiers (use `faithcam explain --task` for other models)"
        )
    return outputs.float().softmax(-1)[0]


def top_classes(probabilities: torch.Tensor, names: list[str] | None) -> list[ClassScore]:
    """The ``TOP_K`` most probable classes (fewer when the model has fewer)."""
    values, ids = probabilities.topk(min(TOP_K, len(probabilities)))
    named = names if names is not None and len(names) == len(probabilities) else None
    return [
        ClassScore(int(i), named[int(i)] if named else f"class {int(i)}", float(p))
        for p, i in zip(values, ids, strict=True)
    ]


def resolve_layer(
    model: nn.Module,
    inputs: torch.Tensor,
    target: int,
    layer: str | None,
    normalization: Normalization,
) -> str:
    """The layer's dotted name as :func:`faithcam.explain` resolves it (None: the automatic
    layer), found by one Grad-CAM call: a wrong name fails here, with explain's message,
    before any job starts."""
    try:
        result = faithcam.explain(
            model, inputs, "gradcam", targets=target, layer=layer,
            normalization=normalization, progress=False,
        )  # fmt: skip
    except FaithcamError as error:
        raise RequestError(" ".join(str(error).split())) from None
    return result.layer


def explain_map(
    model: nn.Module,
    inputs: torch.Tensor,
    method: str,
    target: int,
    layer: str,
    normalization: Normalization,
) -> torch.Tensor:
    """The method's (S, S) map in [0, 1] for class ``target`` at ``layer`` (seed 0)."""
    result = faithcam.explain(
        model, inputs, method, targets=target, layer=layer, seed=0,
        normalization=normalization, progress=False, **method_options(method),
    )  # fmt: skip
    return result.maps[0].detach().float().cpu()


def deletion_auc(
    model: nn.Module,
    inputs: torch.Tensor,
    heatmap: torch.Tensor,
    target: int,
    steps: int,
    normalization: Normalization,
) -> float:
    """Deletion AUC to pixel black (lower is better)."""
    result = deletion(
        model, inputs, heatmap[None], [target], steps=steps, normalization=normalization
    )
    return float(result.values[0])


def insertion_auc(
    model: nn.Module, inputs: torch.Tensor, heatmap: torch.Tensor, target: int, steps: int
) -> float:
    """Insertion AUC from a blurred copy (higher is better)."""
    result = insertion(model, inputs, heatmap[None], [target], steps=steps, substrate="blur")
    return float(result.values[0])


def box_energy(inputs: torch.Tensor, heatmap: torch.Tensor, box: Box) -> float:
    """Σ_box L / Σ L (NaN for an all-zero map)."""
    return float(energy_pointing_game(inputs, heatmap[None], [[box]]).values[0])


def check_box(box: list[int] | None, size: int) -> Box | None:
    """A drawn box ``(x0, y0, x1, y1)`` in pixels of the model's S x S crop (x1, y1
    exclusive), checked; None stays None (no box)."""
    if box is None:
        return None
    if len(box) != 4:
        raise RequestError(f"box: expected 4 numbers (x0, y0, x1, y1), got {len(box)}")
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size):
        raise RequestError(
            f"box: {box} is empty or leaves the {size} x {size} crop; expected "
            f"0 <= x0 < x1 <= {size} and 0 <= y0 < y1 <= {size}"
        )
    return x0, y0, x1, y1


def check_steps(steps: int) -> int:
    if not 2 <= steps <= MAX_STEPS:
        raise RequestError(
            f"steps: expected 2 to {MAX_STEPS} deletion/insertion steps, got {steps}"
        )
    return steps
