"""faithcam methods inside Quantus (as an explain_func) and Captum (as an attribution class)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import faithcam
from faithcam.errors import FaithcamNotImplementedError, FaithcamValueError
from faithcam.interop import CaptumLayerCAM, quantus_explain
from tests.helpers import seeded_images, seeded_torchvision


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    ).eval()


def test_quantus_explain_is_faithcam_explain() -> None:
    model = tiny_cnn()
    images = torch.rand(3, 3, 16, 16)
    targets = np.array([0, 2, 1])
    maps = quantus_explain(model, images.numpy(), targets, method="hirescam", layer="3")
    assert maps.shape == (3, 1, 16, 16) and maps.dtype == np.float32
    expected = faithcam.explain(model, images, "hirescam", [0, 2, 1], "3").numpy()
    np.testing.assert_array_equal(maps[:, 0], expected)
    with pytest.raises(FaithcamValueError, match="inputs: expected channel-first"):
        quantus_explain(model, images[0].numpy(), targets)
    with pytest.raises(FaithcamValueError, match="method: unknown"):
        quantus_explain(model, images.numpy(), targets, method="nope")


@pytest.mark.parametrize("method", ["gradcam", "scorecam"])
def test_quantus_metrics_run_with_quantus_explain(method: str) -> None:
    quantus = pytest.importorskip("quantus")
    warnings.filterwarnings("ignore", module="quantus")
    model = tiny_cnn()
    torch.manual_seed(1)
    x = torch.rand(4, 3, 16, 16).numpy()
    y = model(torch.from_numpy(x)).argmax(1).numpy()
    s = np.zeros((4, 1, 16, 16), dtype=np.float32)
    s[:, :, 4:12, 4:12] = 1
    kwargs = {"method": method, "layer": "3"}
    common = {"model": model, "x_batch": x, "y_batch": y, "device": "cpu"}
    metrics = {
        "PointingGame": quantus.PointingGame(disable_warnings=True),
        "Infidelity": quantus.Infidelity(
            perturb_baseline="black",
            n_perturb_samples=2,
            abs=False,
            normalise=False,
            perturb_patch_sizes=[8],
            disable_warnings=True,
        ),
        "MaxSensitivity": quantus.MaxSensitivity(
            nr_samples=2, lower_bound=0.05, disable_warnings=True
        ),
    }
    for name, metric in metrics.items():
        scores = metric(
            **common,
            a_batch=None,
            s_batch=s if name == "PointingGame" else None,
            explain_func=quantus_explain,
            explain_func_kwargs=kwargs,
        )
        scores = np.asarray(scores, dtype=float)
        assert scores.shape == (4,) and np.isfinite(scores).all(), name
        if name == "PointingGame":
            # a hit iff the map's arg-max lies in the square, computed here from faithcam's maps
            maps = faithcam.explain(model, torch.from_numpy(x), method, y.tolist(), "3").maps
            flat = maps.flatten(1).argmax(1)
            rows, cols = flat // 16, flat % 16
            hits = ((rows >= 4) & (rows < 12) & (cols >= 4) & (cols < 12)).numpy()
            np.testing.assert_array_equal(scores.astype(bool), hits)
        if name == "MaxSensitivity":
            assert (scores >= 0).all()


@pytest.mark.parametrize("relu", [False, True])
def test_captum_wrapper_reproduces_layer_gradcam(relu: bool, peer_output) -> None:
    model = seeded_torchvision("resnet18")
    images = seeded_images(2, 64)
    target = torch.tensor([3, 17])

    def captum_layer_gradcam() -> torch.Tensor:
        captum_attr = pytest.importorskip("captum.attr")
        attribution = captum_attr.LayerGradCam(model, model.layer4).attribute(
            images, target=target, relu_attributions=relu
        )
        model.zero_grad(set_to_none=True)
        return attribution

    theirs = peer_output(
        "LayerGradCam", captum_layer_gradcam, model="resnet18", layer="layer4", images=images
    )
    ours = CaptumLayerCAM(model, model.layer4).attribute(
        images, target=target, relu_attributions=relu
    )
    assert ours.shape == theirs.shape == (2, 1, 2, 2)
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-4, atol=1e-6)
    if peer_output.live:  # Captum's own helpers take the wrapper's output
        up = pytest.importorskip("captum.attr").LayerAttribution.interpolate(ours, (64, 64))
        assert up.shape == (2, 1, 64, 64)


def test_captum_wrapper_any_method_and_errors() -> None:
    model = tiny_cnn()
    images = torch.rand(2, 3, 16, 16)
    cam = CaptumLayerCAM(model, model[3], method="hirescam")
    expected = faithcam.explain(model, images, "hirescam", [1, 2], model[3]).raw_maps
    torch.testing.assert_close(cam.attribute(images, target=[1, 2])[:, 0], expected)
    assert not cam.has_convergence_delta()
    with pytest.raises(FaithcamNotImplementedError, match="attribute_to_layer_input"):
        cam.attribute(images, target=1, attribute_to_layer_input=True)
    with pytest.raises(FaithcamValueError, match="method"):
        CaptumLayerCAM(model, model[3], method="bogus")
