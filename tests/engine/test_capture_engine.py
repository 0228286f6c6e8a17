"""The capture engine's central claim: no autograd graph over the backbone, and exact gradients.

The network runs without autograd up to the target layer; only the head (layer -> score) is
differentiated. A hook on a module *before* the layer sees outputs that do not require grad and
carry no ``grad_fn``; the gradients at the layer equal a plain full-autograd reference.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import faithcam
from faithcam.engine.capture import capture, capture_inputs
from faithcam.engine.layers import ResolvedLayer
from faithcam.engine.request import Request
from faithcam.engine.targets import as_target
from tests.helpers import FlattenLinearNet, GapLinearNet
from tests.references import reference_gradients


class _Recorder:
    """Forward hook recording whether each output requires grad / has a grad_fn."""

    def __init__(self) -> None:
        self.requires_grad: list[bool] = []
        self.grad_fns: list[bool] = []

    def __call__(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        self.requires_grad.append(output.requires_grad)
        self.grad_fns.append(output.grad_fn is not None)


def _graph_nodes(tensor: torch.Tensor) -> int:
    """Number of autograd nodes reachable from ``tensor``'s grad_fn."""
    seen: set[object] = set()
    stack = [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return len(seen)


@pytest.mark.parametrize(
    "method", ["gradcam", "hirescam", "integrated-gradcam", "expected-gradcam", "smoothgradcam++"]
)
def test_backbone_runs_without_autograd(method: str) -> None:
    torch.manual_seed(0)
    model = GapLinearNet().eval()
    recorders = {}
    handles = []
    for index in (0, 1, 2):  # every module before the target layer's last op
        recorders[index] = _Recorder()
        handles.append(model.features[index].register_forward_hook(recorders[index]))
    head = _Recorder()
    handles.append(model.fc.register_forward_hook(head))
    try:
        faithcam.explain(model, torch.rand(2, 3, 16, 16), method, layer="features", seed=0)
    finally:
        for handle in handles:
            handle.remove()
    for recorder in recorders.values():
        assert recorder.requires_grad and not any(recorder.requires_grad)
        assert not any(recorder.grad_fns)
    assert head.requires_grad and all(head.requires_grad)  # the head is differentiated


def test_score_graph_stops_at_the_layer() -> None:
    """The score's graph holds only the head's nodes (pool, flatten, linear, select)."""
    torch.manual_seed(0)
    model = GapLinearNet().eval()
    images = torch.rand(2, 3, 16, 16)
    sizes = []

    def score_fn(outputs: torch.Tensor) -> torch.Tensor:
        sizes.append(_graph_nodes(outputs))
        return outputs[:, 1]

    faithcam.explain(model, images, "gradcam", targets=score_fn, layer="features")
    with torch.enable_grad():
        full = _graph_nodes(model(images.requires_grad_()))
        leaf = torch.rand(2, 8, 8, 8, requires_grad=True)
        head = _graph_nodes(model.fc(model.pool(leaf).flatten(1)))
    # the head's nodes and the hook's clone of the leaf; none of the backbone's conv/ReLU nodes
    assert sizes == [head + 1]
    assert head + 1 < full


@pytest.mark.parametrize("model_cls", [GapLinearNet, FlattenLinearNet])
def test_capture_gradients_equal_full_autograd(model_cls: type[nn.Module]) -> None:
    torch.manual_seed(1)
    model = model_cls().eval()
    images = torch.randn(3, 3, 16, 16)
    classes = torch.tensor([0, 2, 1])
    expected_a, expected_g, outputs = reference_gradients(model, model.features, images, classes)
    target = as_target(classes).bind(3, images.device)
    result = capture(
        model,
        ResolvedLayer("features", model.features),
        images,
        target,
        torch.arange(3),
        torch.ones(3, dtype=torch.bool),
    )
    torch.testing.assert_close(result.activations, expected_a)
    torch.testing.assert_close(result.gradients, expected_g)
    torch.testing.assert_close(result.scores, outputs[torch.arange(3), classes])
    torch.testing.assert_close(result.outputs, outputs)
    assert all(p.grad is None for p in model.parameters())


def test_forward_only_capture_keeps_a_copy_and_scores() -> None:
    """capture_inputs (CAM, Score-CAM): chunked activations and scores equal one forward."""
    torch.manual_seed(2)
    model = GapLinearNet(inplace=True).eval()
    images = torch.randn(5, 3, 16, 16)
    expected_a, _, outputs = reference_gradients(
        model, model.features[2], images, torch.zeros(5, dtype=torch.long)
    )
    expected_a = torch.relu(expected_a)  # the in-place ReLU after the conv overwrote it
    target = as_target(None).bind(5, images.device)
    layer = ResolvedLayer("features.3", model.features[3])
    result = capture_inputs(
        Request(model, images, as_target(None), target, batch_size=2, layer=layer)
    )
    torch.testing.assert_close(result.activations, expected_a)
    torch.testing.assert_close(result.scores, outputs.max(dim=1).values)
    torch.testing.assert_close(target.class_ids, outputs.argmax(dim=1))
    assert result.gradients is None
