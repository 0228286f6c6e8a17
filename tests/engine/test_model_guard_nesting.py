"""model_guard inside a guard of the same model and mode passes through (the drop-in guards the
model around explain's guard); the outermost guard still restores everything."""

from __future__ import annotations

import torch
from torch import nn

from faithcam.engine.model_state import model_guard


def bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()


def test_the_outer_guard_restores_what_a_nested_guard_let_through() -> None:
    model = bn_model()
    before = model[1].running_mean.clone()
    with model_guard(model):
        assert not model.training
        with model_guard(model):
            model[1].running_mean.add_(1.0)
        # the nested guard of the same model and mode restored nothing: the outer one will
        torch.testing.assert_close(model[1].running_mean, before + 1.0)
        assert not model.training
    torch.testing.assert_close(model[1].running_mean, before, rtol=0, atol=0)
    assert model.training and model[1].training


def test_a_nested_guard_of_another_mode_or_model_still_guards() -> None:
    model, other = bn_model(), bn_model()
    before = model[1].running_mean.clone()
    with model_guard(model):
        with model_guard(model, train_mode=True):
            model[1].running_mean.add_(1.0)
        torch.testing.assert_close(model[1].running_mean, before, rtol=0, atol=0)
        with model_guard(other):
            assert not other.training
        assert other.training
    after_outer = model_guard(model)
    with after_outer:  # a fresh guard after the outer one closed guards again
        model[1].running_mean.add_(1.0)
    torch.testing.assert_close(model[1].running_mean, before, rtol=0, atol=0)
