"""The Monte-Carlo estimators: Expected Grad-CAM (baselines drawn from a distribution, random
path positions, Gaussian kernel smoothing) and SmoothGrad-CAM++ (noisy copies of the input).
How their random parts are drawn: :mod:`faithcam.cams.estimators.samplers`."""

from __future__ import annotations

import torch

from faithcam.cams.baselines import Baseline, Black, as_baseline
from faithcam.cams.estimators.base import (
    Estimator,
    check_sigma,
    check_tolerance,
    check_variant,
)
from faithcam.cams.estimators.rows import (
    AVERAGE_GRADIENTS,
    AVERAGE_MAPS,
    NO_REFERENCE,
    OWN_REFERENCE,
    roles,
)
from faithcam.cams.estimators.samplers import Draws, check_sampler
from faithcam.engine.validation import check_count
from faithcam.errors import FaithcamValueError


class MonteCarlo(Estimator):
    """An estimator of ``samples`` random rows per image, plus the input row (weight 0)."""

    samples: int = 1
    random_rows = True

    def settings(self):
        return {
            "estimator": self.name,
            **self.described(),
            "sigma": self.noise,
            "sampler": self.sampler,
            "tolerance": self.tolerance,
        }

    def described(self) -> dict:
        """The settings of this estimator beside σ, the sampler and the tolerance."""
        return {"samples": self.samples}

    @property
    def rows_per_image(self) -> int:
        return self.samples + 1


class Expected(MonteCarlo):
    """Expected Grad-CAM (Buono et al., "Expected Grad-CAM: Towards gradient faithfulness",
    2024): the smoothed expectation of perturbed integrated gradients, by Monte Carlo with n
    samples x̃_r = x'_r + α_r (x − x'_r) + ε_r, x'_r ~ D, α_r ~ U(0, 1),
    ε_r ~ N(0, (σ · range(x))²), range(x) = max − min of the image itself.

    - ``variant="paper"`` (default): the same per-sample map as Integrated Grad-CAM, under the
      perturbation distribution, M = (1/n) Σ_r ReLU( Σ_k (A^k(x̃_r) − A^k(x'_r)) ·
      GAP(∂y^c/∂A^k(x̃_r)) ); a point mass D with σ = 0 is Integrated Grad-CAM as n → ∞
      (the left Riemann grid replaced by α ~ U(0, 1)).
    - ``variant="averaged-gradient"``: G = (1/n) Σ_r ∂y^c/∂A(x̃_r), map = weighting(A(x), G);
      equals Grad-CAM on GAP + linear heads.

    Defaults, chosen by the faithfulness leaderboard against the Shapley truth at the layer
    (``make truth-seeds``, docs/truth.md; 13 cases × 8 images): σ = 0 and D = ``Black()``
    (pixel black) for a call that holds no other images; ``ReferenceSet(images)`` draws from
    the user's data (the CLI, ``evaluate`` and studies pass the other images they hold),
    ``"others"`` from the other images of the same call; ``UniformNoise()`` (noise images
    between each image's minimum and maximum) and σ = 0.05 were the defaults before: mean
    rank 18.0 of 25 against 9.0 for D = black, σ = 0 (which is Integrated Grad-CAM with
    α ~ U(0, 1)) and 10.2 for D = others, σ = 0, best on the data-baseline truths. Every
    σ > 0 moved the maps away from every truth (ρ 0.65 / 0.61 / 0.52 / 0.40 at
    σ = 0 / 0.05 / 0.1 / 0.2 on the ShapesBench ResNet's data-baseline truth): the kernel
    smooths for robustness, which the truth does not reward; pass ``sigma=`` for it.
    Cost per image: n + 1 forwards, plus n forwards up to the layer for A(x'_r).

    ``sampler`` (:mod:`faithcam.cams.estimators.samplers`): ``"qmc"`` (default: scrambled
    Sobol' α and references, a Latin hypercube over every per-pixel draw of noise baselines and
    ε; the same draws as ``"sobol"`` when there are none, e.g. a black or data baseline with
    σ = 0; best or level with the best sampler on every kind of case measured, docs/sampling.md),
    ``"sobol"`` (Sobol' α and references, i.i.d. pixels), ``"random"`` (i.i.d., the draws of
    earlier versions), ``"antithetic"`` (antithetic noise pairs; no gain measured),
    ``"sobol-antithetic"``; all unbiased; every image's draws are its own (the same map in any
    batch). ``tolerance``: stop sampling an image once twice the
    estimated relative standard error of its map is at most this, i.e. its relative L2 error
    is within the tolerance with high probability (``samples`` is then the cap; the numbers
    used are in ``CamResult.settings["samples_used"]``).
    """

    VARIANTS = ("paper", "averaged-gradient")

    def __init__(
        self,
        samples: int = 32,
        baseline: Baseline | str | torch.Tensor | None = None,
        sigma: float = 0.0,
        variant: str = "paper",
        sampler: str = "qmc",
        tolerance: float | None = None,
    ) -> None:
        self.name = "expected"
        self.samples = check_count("samples", samples)
        self.sampler = check_sampler(sampler)
        self.tolerance = check_tolerance(tolerance)
        self.baseline = as_baseline(baseline, Black())
        self.noise = check_sigma("sigma", sigma)
        self.variant = check_variant(variant, self.VARIANTS)
        averaged = variant == "averaged-gradient"
        self.combine = AVERAGE_GRADIENTS if averaged else AVERAGE_MAPS
        self.reference = NO_REFERENCE if averaged else OWN_REFERENCE

    def described(self) -> dict:
        return {"variant": self.variant, "samples": self.samples, "baseline": repr(self.baseline)}

    def pattern(self, image_index, position, draws: Draws | None = None):
        if draws is None:
            raise FaithcamValueError("Expected.pattern: the call's draws are needed (draws=)")
        random_alpha = draws.alpha(image_index, position)
        is_input = position == 0
        alpha = torch.where(is_input, 1.0, random_alpha)
        weight = torch.where(is_input, 0.0, 1.0 / self.samples)
        return alpha, weight, roles(position)


class Smooth(MonteCarlo):
    """SmoothGrad-style gradient (Omeiza et al., "Smooth Grad-CAM++", 2019):
    G = (1/n) Σ_r ∂y^c/∂A (x + ε_r), ε_r ~ N(0, (σ · range(x))²); map = weighting(A(x), G).

    ``sampler="antithetic"`` draws the noise in pairs (ε, −ε), ``"qmc"`` as a Latin hypercube
    over the n rows; ``tolerance`` as in Expected."""

    SAMPLERS = ("random", "antithetic", "qmc")

    def __init__(
        self,
        samples: int = 16,
        sigma: float = 0.15,
        sampler: str = "random",
        tolerance: float | None = None,
    ) -> None:
        self.name = "smooth"
        self.samples = check_count("samples", samples)
        self.noise = check_sigma("sigma", sigma)
        self.sampler = check_sampler(sampler, self.SAMPLERS)
        self.tolerance = check_tolerance(tolerance)

    def pattern(self, image_index, position, draws: Draws | None = None):
        is_input = position == 0
        weight = torch.where(is_input, 0.0, 1.0 / self.samples)
        return torch.ones(len(position)), weight, roles(position)
