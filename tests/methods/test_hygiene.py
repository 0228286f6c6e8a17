"""A call never leaves hooks, gradients, changed modes or flags, and never leaks memory."""

from __future__ import annotations

import gc
import warnings

import pytest
import torch

import faithcam
from tests.helpers import GapLinearNet

# every registered method, with its cheap test options (a new method cannot escape the test)
METHODS = list(faithcam.METHODS)
OPTIONS = {name: dict(spec.test_options) for name, spec in faithcam.METHODS.items()}
# The smoothing and multi-layer options wrap any method: each must leave the model as it was.
WRAPPED = [
    ("gradcam", {"eigen_smooth": True}),
    ("scorecam", {"eigen_smooth": True}),
    ("fullgrad", {"eigen_smooth": True}),
    ("hirescam", {"aug_smooth": True}),
    ("layercam", {"layer": ["features.1", "features.3"], "fusion": "layercam"}),
    ("shapleycam", {"layer": ["features.1", "features.3"], "aug_smooth": True}),
]


def _hook_count(model: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


@pytest.mark.parametrize(
    ("method", "options"), [(m, OPTIONS.get(m, {})) for m in METHODS] + WRAPPED
)
@pytest.mark.parametrize("training", [False, True])
def test_model_left_exactly_as_it_was(method: str, options: dict, training: bool) -> None:
    torch.manual_seed(0)
    model = GapLinearNet(inplace=True)
    model.train(training)
    model.features[0].weight.requires_grad_(False)  # a frozen layer stays frozen
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    grad_mode = torch.is_grad_enabled()
    images = torch.rand(3, 3, 16, 16)
    faithcam.explain(model, images, method, **options)
    assert _hook_count(model) == 0
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(m.training == training for m in model.modules())
    assert torch.is_grad_enabled() == grad_mode
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_hooks_removed_when_the_call_fails() -> None:
    model = GapLinearNet().eval()
    with pytest.raises(faithcam.TargetError):
        faithcam.explain(model, torch.rand(1, 3, 16, 16), targets=99)
    assert _hook_count(model) == 0
    assert torch.is_grad_enabled()


def test_works_inside_no_grad_and_inference_mode() -> None:
    model = GapLinearNet().eval()
    images = torch.rand(2, 3, 16, 16)
    reference = {m: faithcam.explain(model, images, m, seed=0).maps for m in METHODS}
    with torch.no_grad():
        torch.testing.assert_close(faithcam.explain(model, images).maps, reference["gradcam"])
        assert not torch.is_grad_enabled()
    with torch.inference_mode():
        inference_images = images.clone()  # an inference tensor
        for method in METHODS:
            result = faithcam.explain(model, inference_images, method, seed=0)
            torch.testing.assert_close(result.maps, reference[method])
        assert torch.is_inference_mode_enabled() and not torch.is_grad_enabled()


def _live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # isinstance() on deprecated torch aliases warns
        return sum(1 for obj in gc.get_objects() if isinstance(obj, torch.Tensor))


def test_repeated_calls_do_not_grow_memory() -> None:
    torch.manual_seed(0)
    model = GapLinearNet().eval()
    images = torch.rand(4, 3, 32, 32)
    for _ in range(5):
        faithcam.explain(model, images, "gradcam")
    baseline = _live_tensors()
    for i in range(200):
        result = faithcam.explain(model, images, METHODS[i % 5])
    del result
    assert _live_tensors() <= baseline + 2
