"""Deep Feature Factorization (Collins et al., "Deep Feature Factorization for Concept
Discovery", ECCV 2018), as pytorch-grad-cam 1.5.7 exposes it.

The layer's activations of the whole batch form a (K, B·h·w) matrix A (NaN -> 0); each channel
is shifted by its minimum m_k to make it non-negative, and non-negative matrix factorisation
A − m ≈ W H (scikit-learn's NMF, random initialisation, seed 0, as the peer) gives the (K, n)
concept embeddings W + m and the (n, B·h·w) heatmaps H: one map per concept and image, min-max
scaled and resized to the input. scikit-learn is needed (``pip install scikit-learn``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from faithcam.compat.pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients
from faithcam.compat.pytorch_grad_cam.utils.image import (
    create_labels_legend,
    scale_cam_image,
    show_factorization_on_image,
)
from faithcam.engine.model_state import model_guard
from faithcam.engine.validation import check_images, model_device
from faithcam.errors import FaithcamNotImplementedError, FaithcamValueError


def dff(activations: np.ndarray, n_components: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(B, K, h, w) activations -> the (K, n) concepts and the (B, n, h, w) heatmaps."""
    try:
        from sklearn.decomposition import NMF
    except ImportError:  # pragma: no cover - scikit-learn ships with the peer's extras
        raise FaithcamNotImplementedError(
            "dff: Deep Feature Factorization needs scikit-learn (pip install scikit-learn)"
        ) from None
    if not isinstance(n_components, int) or n_components < 1:
        raise FaithcamValueError(f"n_components: expected an integer >= 1, got {n_components!r}")
    batch, channels, height, width = activations.shape
    matrix = np.nan_to_num(np.asarray(activations).transpose(1, 0, 2, 3), nan=0.0)
    matrix = matrix.reshape(channels, -1)
    offset = matrix.min(axis=-1)
    factorisation = NMF(n_components=n_components, init="random", random_state=0)
    weights = factorisation.fit_transform(matrix - offset[:, None])
    maps = factorisation.components_.reshape(n_components, batch, height, width)
    return weights + offset[:, None], maps.transpose(1, 0, 2, 3)


class DeepFeatureFactorization:
    """``dff(input_tensor, n_components=16)`` -> (concepts, per-image (n, H, W) heatmaps) and,
    with ``computation_on_concepts`` (e.g. the classifier head), its outputs on the concepts."""

    def __init__(
        self,
        model: nn.Module,
        target_layer: nn.Module,
        reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        computation_on_concepts: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.model = model
        self.target_layer = target_layer
        self.reshape_transform = reshape_transform
        self.computation_on_concepts = computation_on_concepts

    def __call__(self, input_tensor: torch.Tensor, n_components: int = 16):
        images = check_images(input_tensor)
        images = images.to(model_device(self.model, images.device))
        recorder = ActivationsAndGradients(self.model, [self.target_layer], self.reshape_transform)
        try:
            with torch.no_grad(), model_guard(self.model):
                recorder(images)
            activations = recorder.activations[0].float().numpy()
        finally:
            recorder.release()
        concepts, explanations = dff(activations, n_components)
        size = (images.shape[-1], images.shape[-2])
        maps = [scale_cam_image(one, size) for one in explanations]
        if self.computation_on_concepts is None:
            return concepts, maps
        with torch.no_grad():
            outputs = self.computation_on_concepts(torch.from_numpy(np.float32(concepts).T))
        return concepts, maps, outputs.cpu().numpy()


def run_dff_on_image(
    model: nn.Module,
    target_layer: nn.Module,
    classifier: nn.Module,
    img_pil,
    img_tensor: torch.Tensor,
    reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    n_components: int = 5,
    top_k: int = 2,
) -> np.ndarray:
    """One image's DFF picture beside the image: concepts coloured on it, with a legend of each
    concept's ``top_k`` classes (softmax of ``classifier`` on the concepts; the labels from
    ``model.config.id2label``, as a Hugging Face model has them)."""
    image = np.array(img_pil)
    factorisation = DeepFeatureFactorization(model, target_layer, reshape_transform, classifier)
    _, maps, outputs = factorisation(img_tensor[None], n_components)
    scores = torch.softmax(torch.from_numpy(outputs), dim=-1).numpy()
    legend = create_labels_legend(scores, labels=model.config.id2label, top_k=top_k)
    picture = show_factorization_on_image(image / 255, maps[0], image_weight=0.3,
                                          concept_labels=legend)  # fmt: skip
    return np.hstack((image, picture))
