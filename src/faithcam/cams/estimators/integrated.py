"""Integrated Grad-CAM's estimator: the path from a deterministic baseline to the input, on a
left Riemann grid (the authors') or a higher-order quadrature rule."""

from __future__ import annotations

import numpy as np
import torch

from faithcam.cams.baselines import Baseline, Black, as_baseline
from faithcam.cams.estimators.base import Estimator, check_variant
from faithcam.cams.estimators.rows import (
    AVERAGE_GRADIENTS,
    AVERAGE_MAPS,
    BASELINE_ROW,
    NO_REFERENCE,
    ROLE_BASELINE,
    roles,
)
from faithcam.engine.validation import check_count
from faithcam.errors import FaithcamValueError


class Integrated(Estimator):
    """Integrated Grad-CAM (Sattarzadeh et al., "Integrated Grad-CAM: Sensitivity-Aware Visual
    Explanation of Deep Convolutional Networks via Integrated Gradient-Based Scoring",
    ICASSP 2021), on the left Riemann grid x_i = x' + (i/m)(x − x'), i = 0 … m−1, of the
    authors' code; x' = black by default (pixel black when the normalisation is known).

    - ``variant="paper"`` (default; the paper's Figure 1, whose Δ is A(x_i) − A(x')):
      M = (1/m) Σ_i ReLU( Σ_k (A^k(x_i) − A^k(x')) · GAP(∂y^c/∂A^k(x_i)) ), with Grad-CAM's
      weighting; any weighting replaces the inner map.
    - ``variant="released"`` (the authors' released ``utils.py``): the same without the
      subtraction, summed: M = Σ_i ReLU( Σ_k A^k(x_i) · GAP(∂y^c/∂A^k(x_i)) ).
    - ``variant="averaged-gradient"`` (faithcam's first reconstruction, kept for comparison):
      G = (1/m) Σ_{j=1}^{m} ∂y^c/∂A(x' + (j/m)(x − x')), map = weighting(A(x), G) (or
      A(x) − A(x') with ``relative_activations=True``). On a GAP + linear head the gradient of
      a logit is constant, so this variant **equals Grad-CAM there**.

    Cost: m + 1 forwards per image (the m path points and the input, which gives the score
    and the predicted class); A(x') is the i = 0 row's activations.

    ``rule`` (variants "paper" and "released") is the quadrature of ∫₀¹ f(α) dα, f the
    per-step map: ``"left"`` (default, the grid of the authors' notebook: α_i = i/m,
    i = 0 … m−1, weights 1/m; error O(1/m)), ``"right"`` (the grid drawn in the paper's
    Figure 1: i = 1 … m, weights 1/m; one more forward, the α = 0 node for A(x'); Figure 1
    sums the steps, m × this average, the same map up to scale),
    ``"trapezoid"`` (α_i = i/m, i = 0 … m, end weights 1/(2m); O(1/m²) for a smooth f; one more
    forward, the α = 1 node), ``"gauss-legendre"`` (the m Gauss–Legendre nodes mapped to
    [0, 1], exact for polynomials of degree 2m − 1; one more forward for A(x')). The
    "released" variant's sum is m × the integral's rule.
    """

    VARIANTS = ("paper", "released", "averaged-gradient")
    RULES = ("left", "right", "trapezoid", "gauss-legendre")

    def __init__(
        self,
        steps: int = 50,
        baseline: Baseline | str | torch.Tensor | None = None,
        relative_activations: bool = False,
        variant: str = "paper",
        rule: str = "left",
    ) -> None:
        self.name = "integrated"
        self.steps = check_count("steps", steps)
        if not isinstance(rule, str) or rule not in self.RULES:
            raise FaithcamValueError(
                f"rule: unknown {rule!r}; valid: {', '.join(repr(r) for r in self.RULES)}"
            )
        if rule != "left" and variant == "averaged-gradient":
            raise FaithcamValueError(
                f"rule: {rule!r} is for the 'paper' and 'released' variants (averaged-gradient "
                "keeps its right Riemann sum)"
            )
        self.rule = rule
        self._nodes: tuple[torch.Tensor, torch.Tensor] | None = None
        self.baseline = as_baseline(baseline, Black())
        if self.baseline.stochastic:
            raise FaithcamValueError(
                f"baseline: integrated needs a deterministic baseline, got {self.baseline!r}; "
                "use estimator='expected' for baseline distributions"
            )
        self.variant = check_variant(variant, self.VARIANTS)
        self.relative_activations = bool(relative_activations)
        if self.relative_activations and variant != "averaged-gradient":
            raise FaithcamValueError(
                "relative_activations: only for variant='averaged-gradient' (the "
                f"{variant!r} variant subtracts A(x') at every step already)"
            )
        averaged = variant == "averaged-gradient"
        self.combine = AVERAGE_GRADIENTS if averaged else AVERAGE_MAPS
        self.reference = BASELINE_ROW if variant == "paper" else NO_REFERENCE

    def settings(self):
        return {
            "estimator": self.name,
            "variant": self.variant,
            "steps": self.steps,
            "baseline": repr(self.baseline),
            "relative_activations": self.relative_activations,
            "rule": self.rule,
        }

    def fixed_baselines(self, images, generator):
        return self.baseline(images, torch.arange(len(images), device=images.device), generator)

    @property
    def rows_per_image(self) -> int:
        if self.variant == "averaged-gradient":
            return self.steps + int(self.relative_activations)
        return self.steps + (1 if self.rule == "left" else 2)

    def pattern(self, image_index, position, draws=None):
        m = self.steps
        role = roles(position)
        if self.variant == "averaged-gradient":
            # position 0 is the input (j = m), 1..m-1 are j/m: the right Riemann sum; position
            # m (relative_activations only) is the baseline, weight 0.
            alpha = torch.where(position == 0, 1.0, position / m)
            weight = torch.full((len(position),), 1.0 / m)
            is_baseline = position == m
            alpha = torch.where(is_baseline, 0.0, alpha)
            weight = torch.where(is_baseline, 0.0, weight)
            return alpha, weight, torch.where(is_baseline, ROLE_BASELINE, role)
        if self.rule != "left":
            return self._quadrature_pattern(position)
        # position 0 is the input (weight 0), position p >= 1 is step i = p - 1; i = 0 is x'.
        step = (position - 1).clamp(min=0)
        alpha = torch.where(position == 0, 1.0, step / m)
        step_weight = 1.0 / m if self.variant == "paper" else 1.0
        weight = torch.where(position == 0, 0.0, step_weight)
        return alpha, weight, torch.where(position == 1, ROLE_BASELINE, role)

    def _quadrature_pattern(self, position):
        """Position 0: the input (weight 0); 1: x' (α = 0); trapezoid and right: p ≥ 2 is node
        i = p − 1 (α = i/m, i = 1 … m); Gauss–Legendre: p ≥ 2 is node p − 2."""
        m = self.steps
        scale = 1.0 if self.variant == "paper" else float(m)  # "released" sums the steps
        node = (position - 1).clamp(min=0)
        if self.rule in ("trapezoid", "right"):
            alpha = torch.where(position == 0, 1.0, node / m)
            if self.rule == "right":  # x' (node 0) only gives A(x'): f(0) is not a node
                weight = torch.where(node == 0, 0.0, 1.0 / m) * scale
            else:
                end = (node == 0) | (node == m)
                weight = torch.where(end, 0.5 / m, 1.0 / m) * scale
        else:
            nodes, weights = self._gauss_legendre()
            j = (position - 2).clamp(min=0)
            alpha = torch.where(position == 0, 1.0, torch.where(position == 1, 0.0, nodes[j]))
            weight = torch.where(position <= 1, 0.0, weights[j] * scale)
        weight = torch.where(position == 0, 0.0, weight)
        role = torch.where(position == 1, ROLE_BASELINE, roles(position))
        return alpha, weight, role

    def _gauss_legendre(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The m Gauss–Legendre nodes and weights on [0, 1] (m floats each, cached)."""
        if self._nodes is None:
            t, w = np.polynomial.legendre.leggauss(self.steps)
            self._nodes = (torch.from_numpy((t + 1) / 2), torch.from_numpy(w / 2))
        return self._nodes
