"""Leave the user's model exactly as it was: mode, buffers and dropout.

A model left in train mode (a common mistake) would update its BatchNorm running statistics on
every forward and draw new dropout masks, so maps would depend on the batch and on chance, and
the model would change under the user's feet. :func:`model_guard` runs the model in eval mode
(as pytorch-grad-cam does), snapshots every buffer, and restores both the modes and the buffers
afterwards, even when the call fails. ``train_mode=True`` keeps the user's mode (dropout and
batch statistics active) and still restores every buffer bit for bit. A model whose own
``train()`` / ``eval()`` (or forward) sets other attributes or swaps sub-modules gets them back
too: every module's attributes and children are restored as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import nn

from faithcam.engine.inputs import input_channels_checked
from faithcam.errors import FaithcamTypeError


@contextmanager
def model_guard(model: Any, train_mode: bool = False) -> Iterator[None]:
    """Run the body with ``model`` in eval mode (unless ``train_mode``), then restore every
    module's ``training`` flag and every buffer (same tensor object, same bits). Meanwhile the
    model's first convolution checks its input channels
    (:func:`~faithcam.engine.validation.input_channels_checked`).

    Anything that is not an ``nn.Module`` (a plain callable) passes through untouched, and so
    does the model inside a guard of the same model and mode (the outer one restores it).
    """
    if not isinstance(train_mode, bool):
        raise FaithcamTypeError(f"train_mode: expected True or False, got {train_mode!r}")
    key = (id(model), train_mode)
    if not isinstance(model, nn.Module) or key in _GUARDED.get():
        yield
        return
    modes, buffers, attributes, training_modules = [], [], [], False
    for module in model.modules():
        modes.append((module, module.training))
        attributes.append((module, dict(vars(module)), dict(module._modules)))
        training_modules = training_modules or module.training
        for name, tensor in module._buffers.items():
            if tensor is not None:
                buffers.append((module, name, tensor, tensor.detach().clone()))
    if not train_mode and training_modules:
        model.eval()
    token = _GUARDED.set(_GUARDED.get() | {key})
    try:
        with input_channels_checked(model):  # a clear error before torch's convolution error
            yield
    finally:
        _GUARDED.reset(token)
        # each module's attributes (vars) and children as they were: what a model's own
        # train() override or forward set is undone (the same objects, so the parameter and
        # buffer dicts, restored below, stay the module's own)
        for module, saved_vars, children in attributes:
            current = vars(module)
            for name in set(current).difference(saved_vars):
                del current[name]
            for name, value in saved_vars.items():
                if current.get(name, _MISSING) is not value:
                    current[name] = value
            if module._modules != children:
                module._modules.clear()
                module._modules.update(children)
        for module, training in modes:
            module.training = training
        with torch.no_grad():
            for module, name, tensor, saved in buffers:
                if module._buffers.get(name) is not tensor:
                    module._buffers[name] = tensor
                # copied back always: kernels such as batch_norm update running statistics
                # in place without bumping the version counter
                if torch.is_inference(tensor):  # made under inference_mode by the user
                    with torch.inference_mode():
                        tensor.copy_(saved)
                else:
                    tensor.copy_(saved)


_MISSING = object()
# (id(model), train_mode) of the guards open in this context: a nested guard of the same model
# and mode has nothing to add (the drop-in's call guards the model around explain's guard)
_GUARDED: ContextVar[frozenset[tuple[int, bool]]] = ContextVar(
    "faithcam_guarded", default=frozenset()
)
