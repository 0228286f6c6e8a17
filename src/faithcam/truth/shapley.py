"""``faithcam.truth.shapley``: the Shapley values of a layer's locations for the target score,
the ground truth a class activation map at that layer can be measured against.

Players are the h·w locations of the layer's activations (:mod:`faithcam.truth.game`); the value
of a coalition is the target score with the other locations set to the baseline, computed from
the layer on (:mod:`faithcam.truth.downstream` says how the rest of the model is found and when
the whole model runs instead). Up to 16 locations the values are exact (every coalition,
:mod:`faithcam.truth.enumeration`); above, or when ``samples`` is given, they are estimated by
permutation sampling with standard errors (:mod:`faithcam.truth.sampling`).

Closed forms (derived in docs/truth.md, checked in tests/truth/test_shapley.py): a global average
pooling + linear head gives φ_ij = (1/Z) Σ_k W_ck (A_kij − B_kij), i.e. CAM / Z with the zero
baseline; a flatten + linear head gives φ_ij = Σ_k W_c,kij (A_kij − B_kij), HiResCAM's
per-location term with the zero baseline. Efficiency holds for every estimate:
Σ_ij φ_ij = v(all) − v(none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from faithcam.engine.capture import layer_layout
from faithcam.engine.layers import LayerSpec, resolve_layer
from faithcam.engine.layouts import ReshapeTransform
from faithcam.engine.model_state import model_guard
from faithcam.engine.targets import BoundTarget, OutputSelector, as_target, select_output
from faithcam.engine.validation import (
    check_batch_size,
    check_images,
    check_model,
    model_device,
    model_dtype,
)
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.truth.downstream import Head, build_head
from faithcam.truth.enumeration import MAX_EXACT_PLAYERS, all_values, shapley_from_values
from faithcam.truth.game import LayerGame
from faithcam.truth.sampling import block_size, sampled_shapley

BASELINES = ("zero", "reference", "expected")
DEFAULT_PERMUTATIONS = 32


@dataclass
class ShapleyResult:
    """Shapley values of the locations of ``layer`` for each image's target score.

    Attributes:
        values: (B, h, w) float64 φ, in score units.
        stderr: (B, h, w) standard errors of φ (zeros when exact).
        exact: True when every coalition was evaluated.
        full / empty: (B,) v(all locations) and v(no location); Σ φ = full − empty.
        scores: (B,) the target scores of the images (the model's own forward).
        targets: (B,) explained class ids, or None for callable targets.
        layer: the layer's dotted name; ``route``: ``"graph"`` (only the part after the layer
            ran per coalition) or ``"full-forward"``, with ``route_reason``.
        permutations: permutations sampled per image (0 when exact); ``coalitions``: values
            evaluated per image.
    """

    values: torch.Tensor
    stderr: torch.Tensor
    exact: bool
    full: torch.Tensor
    empty: torch.Tensor
    scores: torch.Tensor
    targets: torch.Tensor | None
    layer: str
    route: str
    route_reason: str
    permutations: int
    coalitions: int

    @property
    def efficiency_gap(self) -> torch.Tensor:
        """(B,) Σ φ − (v(all) − v(none)): zero up to rounding for every estimate."""
        return self.values.flatten(1).sum(1) - (self.full - self.empty)


def shapley(
    model: nn.Module,
    images: torch.Tensor,
    targets: Any = None,
    layer: LayerSpec = None,
    *,
    baseline: str | torch.Tensor = "zero",
    reference: torch.Tensor | None = None,
    samples: int | None = None,
    sampler: str = "antithetic",
    seed: int | None = None,
    batch_size: int = 1024,
    output_selector: OutputSelector = None,
    reshape_transform: ReshapeTransform | None = None,
    progress: Callable[[int], None] | None = None,
) -> ShapleyResult:
    """Shapley values of the locations of ``layer`` for the target score of each image.

    Args:
        targets, layer, output_selector, reshape_transform: as in :func:`faithcam.explain`.
        baseline: what an absent location holds: ``"zero"``; ``"reference"``, the activations
            of ``reference`` at the layer; ``"expected"``, each of the R ``reference`` images'
            activations in turn, the value being their mean (a data distribution of baselines,
            as Expected Gradients; R forwards of the head per coalition); or a tensor of
            baseline activations, (C, h, w) or (1 or B, C, h, w) in (channels, grid) order.
        reference: the reference image(s): for ``"reference"`` (C, H, W) or (1 or B, C, H, W)
            in model space, None = the model input 0 (black for [0, 1] inputs; pass
            (0 − mean) / std for normalised ones); for ``"expected"`` (R, C, H, W), required.
        samples: None = exact when the grid has at most 16 locations, else 32 permutations;
            an int = that many sampled permutations (rounded up to whole blocks, at least two).
        sampler: ``"antithetic"``, ``"stratified"`` or ``"random"`` permutations.
        seed: seed of the permutations.
        batch_size: coalitions per forward of the head.
        progress: called with the number of coalitions evaluated after each batch.
    """
    model, images = check_model(model), check_images(images)
    batch_size = check_batch_size(batch_size)
    _check_baseline(baseline, reference)
    _check_samples(samples)
    block_size(sampler, 1)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaithcamTypeError(f"seed: expected an int or None, got {seed!r}")
    images = images.to(model_device(model, images.device), model_dtype(model, images.dtype))
    generator = torch.Generator().manual_seed(0 if seed is None else seed)
    with model_guard(model), torch.inference_mode(False), torch.no_grad():
        resolved = resolve_layer(model, layer, images[:1], reshape_transform)
        target = as_target(targets).bind(len(images), images.device)
        outputs = select_output(model(images), output_selector)
        index = torch.arange(len(images), device=images.device)
        scores = target.scores(outputs, index, torch.ones_like(index, dtype=torch.bool))
        head = build_head(model, resolved, images[:1], _scorer(target, output_selector, 0))
        games = _Games(head, images, target, output_selector, baseline, reference)
        rows = [_one_image(games.game(b), samples, sampler, generator, batch_size, progress)
                for b in range(len(images))]  # fmt: skip
    values, stderr, full, empty = (torch.stack([row[k] for row in rows]) for k in range(4))
    exact, permutations, coalitions = rows[0][4:]
    return ShapleyResult(
        values, stderr, exact, full, empty, scores.detach().double().cpu(),
        None if target.class_ids is None else target.class_ids.detach().cpu(),
        resolved.name, head.route, head.reason, permutations, coalitions,
    )  # fmt: skip


def _scorer(target: BoundTarget, selector: OutputSelector, image: int):
    """Model outputs of rows that all belong to image ``image`` -> (N,) target scores."""

    def score(outputs: Any) -> torch.Tensor:
        selected = select_output(outputs, selector)
        n = len(selected)
        device = selected.device if isinstance(selected, torch.Tensor) else None
        index = torch.full((n,), image, dtype=torch.long, device=device)
        return target.scores(selected, index, torch.zeros(n, dtype=torch.bool, device=device))

    return score


class _Games:
    """Builds the coalition game of each image (its activations, its baseline's)."""

    def __init__(self, head: Head, images, target, selector, baseline, reference) -> None:
        self.head, self.images, self.target, self.selector = head, images, target, selector
        self.baseline, self.reference = baseline, reference
        self._expected: torch.Tensor | None = None  # the references' activations, once

    def game(self, b: int) -> LayerGame:
        image = self.images[b : b + 1]
        prepared = self.head.prepare(image)
        layout = layer_layout(self.head.layer, prepared.value, tuple(image.shape[-2:]))
        present = layout.to_nchw(prepared.value)
        absent = self._absent(b, present, layout)
        scorer = _scorer(self.target, self.selector, b)
        return LayerGame(self.head, prepared, layout, present, absent, scorer)

    def _absent(self, b: int, present: torch.Tensor, layout) -> torch.Tensor:
        if isinstance(self.baseline, torch.Tensor):
            given = self.baseline.to(present.device, present.dtype)
            given = given[None] if given.dim() == 3 else given
            chosen = given[b : b + 1] if len(given) > 1 else given
            if len(given) not in (1, len(self.images)) or chosen.shape != present.shape:
                raise FaithcamValueError(
                    f"baseline: expected activations of shape {tuple(present.shape[1:])} "
                    f"(C, h, w), one or {len(self.images)} of them; got {tuple(given.shape)}"
                )
            return chosen
        if self.baseline == "zero":
            return torch.zeros_like(present)
        if self.baseline == "expected":
            if self._expected is None:
                references = self.reference.to(self.images.device, self.images.dtype)
                if references.shape[1:] != self.images.shape[1:]:
                    raise FaithcamValueError(
                        f"reference: expected images of shape {tuple(self.images.shape[1:])}, "
                        f"got {tuple(references.shape[1:])}"
                    )
                values = [self.head.prepare(image[None]).value for image in references]
                self._expected = torch.cat([layout.to_nchw(v) for v in values])
            return self._expected
        image = _reference_image(self.reference, self.images, b)
        value = self.head.prepare(image).value
        return layer_layout(self.head.layer, value, tuple(image.shape[-2:])).to_nchw(value)


def _reference_image(reference: torch.Tensor | None, images: torch.Tensor, b: int):
    if reference is None:
        return torch.zeros_like(images[:1])
    reference = reference.to(images.device, images.dtype)
    reference = reference[None] if reference.dim() == 3 else reference
    if reference.shape[1:] != images.shape[1:] or len(reference) not in (1, len(images)):
        raise FaithcamValueError(
            f"reference: expected images of shape {tuple(images.shape[1:])}, one or "
            f"{len(images)} of them; got {tuple(reference.shape)}"
        )
    return reference[b : b + 1] if len(reference) > 1 else reference


def _one_image(game: LayerGame, samples, sampler, generator, batch_size, progress):
    """(φ, stderr, v(all), v(none), exact, permutations, coalitions) of one image."""
    h, w = game.grid
    n = game.players
    if samples is None and n <= MAX_EXACT_PLAYERS:
        v = all_values(game.values, n, batch_size, progress)
        phi = shapley_from_values(v)
        zeros = torch.zeros(h, w, dtype=torch.float64)
        return phi.view(h, w), zeros, v[-1], v[0], True, 0, len(v)
    count = DEFAULT_PERMUTATIONS if samples is None else samples
    phi, stderr, used = sampled_shapley(
        game.values, n, count, sampler, generator, batch_size, progress
    )
    ends = game.values(torch.tensor([[True] * n, [False] * n]))
    return phi.view(h, w), stderr.view(h, w), ends[0], ends[1], False, used, used * (n + 1)


def _check_baseline(baseline: object, reference: object) -> None:
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            raise FaithcamValueError(
                f"baseline: expected 'zero', 'reference' or a tensor of activations, got "
                f"{baseline!r}"
            )
    elif not isinstance(baseline, torch.Tensor):
        raise FaithcamTypeError(
            f"baseline: expected 'zero', 'reference' or a tensor, got {type(baseline).__name__}"
        )
    elif baseline.dim() not in (3, 4):
        raise FaithcamValueError(
            f"baseline: a tensor of activations must be (C, h, w) or (B, C, h, w), got shape "
            f"{tuple(baseline.shape)}"
        )
    uses_reference = isinstance(baseline, str) and baseline in ("reference", "expected")
    if reference is not None:
        if not isinstance(reference, torch.Tensor):
            raise FaithcamTypeError(
                f"reference: expected an image tensor or None, got {type(reference).__name__}"
            )
        if not uses_reference:
            raise FaithcamValueError("reference: only used with baseline='reference' / 'expected'")
    expected = isinstance(baseline, str) and baseline == "expected"
    if expected and (reference is None or reference.dim() != 4 or len(reference) == 0):
        raise FaithcamValueError(
                "reference: baseline='expected' needs reference images, an (R, C, H, W) tensor"
            )


def _check_samples(samples: object) -> None:
    if samples is None:
        return
    if isinstance(samples, bool) or not isinstance(samples, int):
        raise FaithcamTypeError(f"samples: expected an int >= 1 or None, got {samples!r}")
    if samples < 1:
        raise FaithcamValueError(f"samples: must be >= 1 (permutations), got {samples}")
