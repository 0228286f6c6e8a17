"""The user's model is never changed: a train-mode model is explained in eval mode, restored."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

import faithcam
from faithcam.engine.model_state import model_guard
from faithcam.metrics import deletion

METHODS = {
    "gradcam": {},
    "hirescam": {},
    "xgradcam": {},
    "integrated-gradcam": {"steps": 2},
    "expected-gradcam": {"samples": 2},
    "scorecam": {},
    "ablationcam": {},
    "cam": {},
}


@functools.cache
def _resnet() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=4)
    # non-trivial running statistics, so a restored buffer is not merely the init value
    model.train()
    with torch.no_grad():
        model(torch.rand(4, 3, 32, 32))
    return model


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    state = {f"param:{k}": v.detach().clone() for k, v in model.named_parameters()}
    state.update({f"buffer:{k}": v.clone() for k, v in model.named_buffers()})
    return state


def _assert_bit_identical(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = _snapshot(model)
    assert after.keys() == before.keys()
    changed = [k for k in before if not torch.equal(after[k], before[k])]
    assert not changed, f"changed: {changed[:5]}"


@pytest.mark.parametrize("method", METHODS)
def test_train_mode_resnet_is_left_bit_identical_and_explained_as_in_eval(method: str) -> None:
    model = _resnet().train()
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    before = _snapshot(model)
    result = faithcam.explain(model, images, method, layer="layer4", seed=0, **METHODS[method])
    _assert_bit_identical(model, before)  # 60 BatchNorm buffers incl. num_batches_tracked
    assert all(m.training for m in model.modules())
    model.eval()
    try:
        reference = faithcam.explain(
            model, images, method, layer="layer4", seed=0, **METHODS[method]
        )
    finally:
        model.train()
    torch.testing.assert_close(result.maps, reference.maps, rtol=0, atol=0)


class _DropoutNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.features(x).mean((2, 3))))


def test_dropout_is_off_by_default_and_on_with_train_mode() -> None:
    torch.manual_seed(0)
    model = _DropoutNet().train()
    images = torch.rand(4, 3, 16, 16)
    first = faithcam.explain(model, images, targets=0).maps
    second = faithcam.explain(model, images, targets=0).maps
    torch.testing.assert_close(first, second, rtol=0, atol=0)  # no dropout draw, no batch stats
    before = _snapshot(model)
    torch.manual_seed(1)
    a = faithcam.explain(model, images, targets=0, train_mode=True).maps
    torch.manual_seed(2)
    b = faithcam.explain(model, images, targets=0, train_mode=True).maps
    assert not torch.equal(a, b), "train_mode=True keeps dropout active"
    _assert_bit_identical(model, before)  # ... and still never mutates the buffers
    assert all(m.training for m in model.modules())


def test_metrics_run_a_train_mode_model_without_changing_it() -> None:
    model = _resnet().train()
    images = torch.rand(2, 3, 32, 32)
    maps = torch.rand(2, 32, 32)
    before = _snapshot(model)
    deletion(model, images, maps, curve_steps=3)
    _assert_bit_identical(model, before)
    assert model.training


def test_guard_restores_on_error_and_mixed_modes() -> None:
    model = _DropoutNet().train()
    model.features.eval()  # a user's mixed modes come back as they were
    modes = [m.training for m in model.modules()]
    before = _snapshot(model)
    with pytest.raises(RuntimeError, match="boom"), model_guard(model, train_mode=True):
        model(torch.rand(2, 3, 8, 8))
        raise RuntimeError("boom")
    assert [m.training for m in model.modules()] == modes
    _assert_bit_identical(model, before)
    with pytest.raises(TypeError, match="train_mode"):
        faithcam.explain(model, torch.rand(1, 3, 8, 8), train_mode="yes")
