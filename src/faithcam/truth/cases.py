"""Cases with a known truth: a model, images, targets and a layer, each with what makes it hard
for a class activation map. :func:`cases` lists them; :meth:`Case.load` builds one.

Toys (:mod:`faithcam.truth.toys`, 4 × 4 grids: exact truth; sampled in quick runs):

- ``gap-linear``: global average pooling + linear. φ = CAM / Z. Nothing is hard; a control.
- ``flatten-linear``: a weight per location. φ = HiResCAM's term; Grad-CAM averages the gradient
  over space and credits locations by their activation, whatever their weight.
- ``masked-head``: the head reads half the grid. The unread half has φ = 0 but large
  activations, which any map weighting activations by a spatially averaged gradient shows.
- ``saturating``: 1 − ReLU(1 − z): most images sit on the cap, where every gradient is zero,
  yet the locations together moved the score from its empty value to the cap.
- ``and`` / ``or``: min / max of the evidence of two halves of the grid. The gradient reaches
  only the arg-min (AND) or arg-max (OR) half; Shapley credits both.
- ``attention-pool``: softmax attention pooling: locations compete, so a location's credit
  depends on the others.
- ``vit``: a ViT-like token model explained at its first block's output tokens; the second
  block's attention mixes every token with every other.

Trained CNNs (ShapesBench, :mod:`faithcam.data`, 8 × 8 grids: sampled truth):

- ``shapes-resnet-clean`` / ``shapes-vgg-clean`` / ``shapes-vgg-spurious`` at their standard
  layers: additive heads (GAP + linear, flatten + linear), so the sampled truth has no sampling
  error; it is CAM / Z and HiResCAM's term. What is hard is the path methods' baseline: the
  truth of ``shapes-resnet-clean-black`` is the same model with a black-image baseline
  (φ = W·(A(x) − A(black)) / Z), the convention Integrated Grad-CAM's Δ follows;
  ``shapes-resnet-clean-data`` / ``shapes-vgg-clean-data`` take the data as baseline (the mean
  game over 8 other ShapesBench images), the truth a data-aware D aims at.
- ``shapes-resnet-clean-inner``: the ResNet at its last block's inner ReLU: a 3 × 3 conv, a skip
  connection from the block's input and a ReLU follow, so the head is nonlinear and mixes
  neighbours.
- ``mobilenet`` (full runs only): the offline ImageNet MobileNetV2 at ``features.16`` (7 × 7),
  followed by an inverted residual block with a depthwise 3 × 3 conv; up to six photos
  from scikit-image; sampled truth with its error bars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from faithcam.errors import FaithcamValueError
from faithcam.truth import toys


@dataclass
class CaseData:
    """What a case gives to the truth and to every method."""

    model: nn.Module
    images: torch.Tensor
    targets: Any
    layer: str
    truth: dict[str, Any] = field(default_factory=dict)  # shapley() options
    normalization: Any = None  # the model's (mean, std), for explain's Black baseline


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    hard: str
    build: Callable[[int, bool], CaseData]  # (images, quick) -> data
    quick: bool = True  # in the quick runs' set
    skip: tuple[str, ...] = ()  # methods too costly to run on this case

    def load(self, images: int, quick: bool = False) -> CaseData:
        """The model, ``images`` images, targets and layer of this case."""
        return self.build(images, quick)


# Quick runs sample the toys' truths instead of enumerating 65,536 coalitions per image: an
# additive head has no sampling error (every permutation gives each location its exact
# contribution), the others get error bars (the report's "relative error" column).
QUICK_TOY_PERMUTATIONS = {"additive": 2, "nonlinear": 64}


def _toy(
    model_fn: Callable[[], toys.Toy],
    targets: Any = None,
    calibrate: bool = False,
    head: str = "nonlinear",
):
    def build(n: int, quick: bool) -> CaseData:
        images = toys.toy_images(n, seed=11)
        model = model_fn().eval()
        if calibrate:
            model.calibrate(images)
        truth = {"samples": QUICK_TOY_PERMUTATIONS[head]} if quick else {}
        return CaseData(model, images, targets, "features", truth)

    return build


def _vit(n: int, quick: bool) -> CaseData:
    # exact costs 65,536 forwards of a transformer block per image: sampled in quick runs
    truth = {"samples": 16} if quick else {}
    return CaseData(toys.TinyViT().eval(), toys.toy_images(n, seed=12), None, "blocks.0", truth)


# Permutations of the sampled truths: additive heads need few (no sampling error), the others
# trade time for error bars.
ADDITIVE_PERMUTATIONS = 4
DATA_REFERENCES = 8  # reference images of the data-aware truths


def _shapes(
    arch: str,
    split: str,
    layer: str | None = None,
    baseline: str = "zero",
    permutations: tuple[int, int] = (ADDITIVE_PERMUTATIONS, ADDITIVE_PERMUTATIONS),
):
    def build(n: int, quick: bool) -> CaseData:
        from faithcam.data import ShapesBench, load_shapes_model

        loaded = load_shapes_model(arch, split)
        bench = ShapesBench(split, n, seed=2024)
        truth = {"samples": permutations[0] if quick else permutations[1], "baseline": baseline}
        if baseline == "expected":  # D: other images of the same split
            truth["reference"] = ShapesBench(split, DATA_REFERENCES, seed=7).images
        return CaseData(loaded.model, bench.images, bench.labels, layer or loaded.layer, truth)

    return build


# scikit-image photos shipped in its wheel (no download)
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "immunohistochemistry", "hubble_deep_field")


def _mobilenet(n: int, quick: bool) -> CaseData:
    from faithcam.io.pretrained import load_pretrained

    try:
        from skimage import data
    except ImportError as error:  # pragma: no cover - scikit-image is a dev dependency
        raise FaithcamValueError(
            "cases: the mobilenet case needs scikit-image's photos (pip install scikit-image)"
        ) from error
    pretrained = load_pretrained("mobilenet_v2-imagenet")
    photos = [getattr(data, name)() for name in PHOTOS[: min(n, len(PHOTOS))]]
    images = torch.cat([pretrained.preprocess(photo) for photo in photos])
    truth = {"samples": 8 if quick else 32}
    normalization = (pretrained.mean, pretrained.std)
    return CaseData(pretrained.model, images, None, "features.16", truth, normalization)


CASES: tuple[Case, ...] = (
    Case("gap-linear", "linear", "nothing: CAM / Z is the truth (a control)",
         _toy(toys.GapLinear, head="additive"), quick=False),
    Case("flatten-linear", "linear",
         "a weight per location; Grad-CAM averages the gradient over space",
         _toy(toys.FlattenLinear, head="additive")),
    Case("masked-head", "linear", "half the grid is never read but has large activations",
         _toy(toys.MaskedHead, head="additive")),
    Case("saturating", "nonlinear", "most images sit on the cap: zero gradient at the input",
         _toy(toys.Saturating, targets=0, calibrate=True)),
    Case("and", "interaction", "min of two halves: the gradient reaches only the weaker half",
         _toy(lambda: toys.Regions("and"), targets=0)),
    Case("or", "interaction", "max of two halves: the gradient reaches only the stronger half",
         _toy(lambda: toys.Regions("or"), targets=0)),
    Case("attention-pool", "nonlinear", "softmax pooling: locations compete for weight",
         _toy(toys.AttentionPool)),
    Case("vit", "transformer", "attention after the layer mixes every token with every other",
         _vit),
    Case("shapes-resnet-clean", "trained-cnn", "GAP + linear at 8 x 8; truth = CAM / Z",
         _shapes("resnet", "clean")),
    Case("shapes-resnet-clean-black", "trained-cnn",
         "the same with a black-image baseline: truth = W·(A(x) − A(black)) / Z",
         _shapes("resnet", "clean", baseline="reference"), quick=False),
    Case("shapes-resnet-clean-data", "trained-cnn",
         "the same with the data as baseline (mean over 8 ShapesBench images): the truth "
         "Expected Grad-CAM's data-aware D aims at",
         _shapes("resnet", "clean", baseline="expected"), quick=False),
    Case("shapes-vgg-clean", "trained-cnn", "flatten + linear at 8 x 8; truth = HiResCAM",
         _shapes("vgg", "clean"), quick=False),
    Case("shapes-vgg-clean-data", "trained-cnn",
         "flatten + linear with the data as baseline (mean over 8 ShapesBench images)",
         _shapes("vgg", "clean", baseline="expected"), quick=False),
    Case("shapes-vgg-spurious", "trained-cnn",
         "flatten + linear; the label is carried by a colour patch, not the shape",
         _shapes("vgg", "spurious")),
    Case("shapes-resnet-clean-inner", "trained-cnn",
         "inside the last block: 3 x 3 conv, skip connection and ReLU follow (sampled truth)",
         _shapes("resnet", "clean", "layer2.body.2", permutations=(8, 32)), quick=False),
    Case("mobilenet", "imagenet",
         "ImageNet MobileNetV2 at features.16 (7 x 7), a depthwise-conv block follows "
         "(sampled truth)", _mobilenet, quick=False,
         # SS-CAM / IS-CAM: images x 160 channels x 35 / 10 full forwards at 224 px
         skip=("sscam", "iscam")),
)  # fmt: skip


def cases(names: list[str] | None = None, full: bool = True) -> list[Case]:
    """The cases named ``names`` (all by default; without ``full``, those of quick runs)."""
    known = {case.name: case for case in CASES}
    if names is None:
        return [case for case in CASES if full or case.quick]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise FaithcamValueError(
            f"cases: unknown {', '.join(map(repr, unknown))}; valid: {', '.join(known)}"
        )
    return [known[name] for name in names]
