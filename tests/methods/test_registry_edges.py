"""The method registry at its edges: names, aliases, generated class names, unregistering
(issue 25: the edge cases behind the hand-written mutants of cams/registry.py)."""

from __future__ import annotations

import pytest
import torch

import faithcam
from faithcam.cams.registry import ALIASES, METHODS, method_spec, unregister
from faithcam.errors import FaithcamValueError
from tests.methods.test_estimators import TanhHeadNet
from tests.methods.test_seed_methods import naive_activations_and_gradient, naive_gradcam_term


def gradcam_terms(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Grad-CAM's T_k = A_k · GAP(G_k)."""
    return a * g.mean((2, 3), keepdim=True)


@pytest.mark.parametrize(
    ("given", "name"),
    [("GradCAM", "gradcam"), ("Grad-CAM", "gradcam"), ("HIRESCAM", "hirescam"),
     ("gradcampp", "gradcam++"), ("Expected", "expected-gradcam")],
)  # fmt: skip
def test_method_names_ignore_case_and_aliases_resolve(given: str, name: str) -> None:
    assert method_spec(given)[0] == name


def test_a_name_starting_with_a_digit_gets_a_prefixed_class_name() -> None:
    spec = faithcam.register_weighting("3d-cam", gradcam_terms)
    try:
        assert spec.class_name == "Method3dCam"
    finally:
        unregister("3d-cam")


def test_unregister_removes_the_aliases() -> None:
    faithcam.register_weighting("alias-check-cam", gradcam_terms, aliases=("alias-check",))
    assert method_spec("alias-check")[0] == "alias-check-cam"
    unregister("alias-check-cam")
    assert "alias-check" not in ALIASES and "alias-check-cam" not in METHODS
    with pytest.raises(FaithcamValueError, match="unknown 'alias-check'"):
        method_spec("alias-check")


def test_a_registered_weighting_runs_on_the_image_itself_by_default() -> None:
    """The vanilla estimator: Grad-CAM's terms registered anew give Σ_k A^k GAP(G^k) at x."""
    faithcam.register_weighting("twin-cam", gradcam_terms)
    try:
        model = TanhHeadNet().eval()
        image = torch.rand(1, 3, 8, 8)
        result = faithcam.explain(model, image, "twin-cam", targets=1, layer="features")
    finally:
        unregister("twin-cam")
    expected = naive_gradcam_term(*naive_activations_and_gradient(model, image, 1))
    torch.testing.assert_close(result.raw_maps[0], expected, rtol=1e-5, atol=1e-6)
    assert result.settings["estimator"] == "vanilla"
