"""The drop-in classes of pytorch-grad-cam 1.5.7 that faithcam computes through
:func:`faithcam.explain`: EigenCAM, KPCA_CAM, RandomCAM, FEM, ShapleyCAM and FullGrad (the
formulas and papers are in :mod:`faithcam.cams`). Each returns the peer's scaled arrays.

Differences from the peer, on purpose: RandomCAM draws its weights from torch's generator
(``seed`` for a reproducible draw), not NumPy's global one; FullGrad reads the model's bias
layers itself and ignores ``target_layers`` silently (the peer prints a warning).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from faithcam.api import explain
from faithcam.compat.pytorch_grad_cam.base_cam import ExplainedCAM
from faithcam.compat.pytorch_grad_cam.utils.image import scale_cam_image
from faithcam.engine.targets import Target

Reshape = Callable[[torch.Tensor], torch.Tensor] | None


class EigenCAM(ExplainedCAM):
    """Eigen-CAM (Muhammad & Yeasin, IJCNN 2020): X v₁, the projection of the centred
    activations on their first principal direction, signed as the peer (NumPy's SVD)."""

    method = "eigencam"


class KPCA_CAM(ExplainedCAM):
    """KPCA-CAM (Karmani et al., 2024): √λ₁ α₁ of the double-centred kernel matrix of the
    centred activations (``kernel``: sigmoid, rbf, poly, linear; ``gamma``: None is 1/K)."""

    method = "kpcacam"

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: Reshape = None,
        kernel: str = "sigmoid",
        gamma: float | None = None,
    ) -> None:
        super().__init__(model, target_layers, reshape_transform)
        self.options = {"kernel": kernel, "gamma": gamma}


class RandomCAM(ExplainedCAM):
    """RandomCAM: map = Σ_k w_k A^k, w_k ~ U(−1, 1) (a sanity baseline; ``seed``: None draws
    from torch's global generator)."""

    method = "randomcam"

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: Reshape = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(model, target_layers, reshape_transform)
        self.options = {"seed": seed}


class FEM(ExplainedCAM):
    """FEM (Fuad et al., IPTA 2020): Σ_k w_k A^k, w_k the share of A^k above μ_k + k σ_k.
    As the peer, ``eigen_smooth`` changes nothing."""

    method = "fem"
    smooths = False

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: Reshape = None,
        k: float = 2,
    ) -> None:
        super().__init__(model, target_layers, reshape_transform)
        self.k = k
        self.options = {"k": k}


class ShapleyCAM(ExplainedCAM):
    """ShapleyCAM (Cai et al., 2025): w_k = mean_ij (G − ½ H·A)^k_ij, the gradient corrected by
    the Hessian-vector product (a second-order Shapley estimate)."""

    method = "shapleycam"


class FullGrad(ExplainedCAM):
    """FullGrad (Srinivas & Fleuret, NeurIPS 2019): |x ⊙ ∇x| plus Σ over the bias layers of
    |b ⊙ ∇b|, each post-processed, summed (``target_layers`` is ignored, as by the peer)."""

    method = "fullgrad"
    reshape_supported = False
    volumes = False

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module] = (),
        reshape_transform: Reshape = None,
    ) -> None:
        super().__init__(model, list(target_layers) or [model], reshape_transform)

    def _forward(self, images: torch.Tensor, target: Target, eigen_smooth: bool) -> np.ndarray:
        result = explain(
            self.model, images, self.method, target, batch_size=self.batch_size, relu=False,
            eigen_smooth=eigen_smooth,
        )  # fmt: skip
        self.defer_outputs(images)
        size = (images.shape[-1], images.shape[-2])
        return scale_cam_image(np.maximum(result.raw_maps.float().cpu().numpy(), 0), size)
