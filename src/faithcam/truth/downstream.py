"""The part of a model after a layer: run once per coalition batch, with the backbone paid once.

A coalition changes only the layer's tensor, so everything computed *before* the layer is the
same for every coalition of an image. Two routes evaluate the model from the layer on:

- **graph** (preferred): the model is traced with ``torch.fx`` (the target layer kept as one
  call; standard ``torch.nn`` modules are leaves). The *downstream* graph is every node that
  depends on the layer's tensor, up to the output. Its inputs are the layer's tensor and the
  *context*: values computed before the layer that downstream nodes also read (a skip
  connection, the input image, a class token, sizes). One interpreted forward per image gives
  the layer's tensor and the context; each coalition batch then runs only the downstream graph,
  the context expanded along the batch. For a ``"name:input"`` layer only that module's first
  input is replaced (its producer's other readers are context), as the engine's pre-hook does.
- **full-forward** (fallback): the whole model runs per coalition batch on copies of the image,
  with a forward hook at the layer that returns the coalitions' tensors. Always sound (the layer
  must run once per forward), and the backbone is paid per batch.

The graph route is taken only when it is *checked* sound: the trace succeeds (no data-dependent
control flow), the layer is called exactly once in the graph, and the downstream graph run on a
batch of two copies of the image's own layer tensor reproduces the model's eager outputs (to
float tolerance, with the right batch size). Otherwise the full-forward route runs and
:attr:`Head.reason` says why. A cached *tiny input* fed to the model with a hook that swaps in
the activations is not used: modules before the layer may still feed the head (skips), and
their values would then come from the wrong input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from faithcam.engine.capture import register_site_hook
from faithcam.engine.layers import ResolvedLayer
from faithcam.errors import LayerError, TargetError

GRAPH, FULL_FORWARD = "graph", "full-forward"
# Relative tolerance of the soundness check (scores of the downstream graph vs the model's).
CHECK_RTOL = 1e-4


@dataclass
class Prepared:
    """What one image gives before any coalition: the layer's tensor (native layout, batch 1),
    the model's outputs on the image, and what the route needs to run the rest."""

    value: torch.Tensor
    outputs: Any
    context: tuple[Any, ...] = ()
    image: torch.Tensor | None = None


@dataclass
class Head:
    """Runs the model from the layer on; ``route`` is ``"graph"`` or ``"full-forward"``."""

    model: nn.Module
    layer: ResolvedLayer
    route: str = FULL_FORWARD
    reason: str = ""
    upstream: fx.GraphModule | None = None
    downstream: fx.GraphModule | None = None
    needed: list[fx.Node] = field(default_factory=list)

    def prepare(self, image: torch.Tensor) -> Prepared:
        """One forward of ``image`` (1, C, H, W): its layer tensor and its context."""
        if self.route == GRAPH:
            interpreter = fx.Interpreter(self.upstream, garbage_collect_values=False)
            outputs = interpreter.run(image)
            value, *context = (interpreter.env[node] for node in self.needed)
            return Prepared(value.detach(), outputs, tuple(context))
        stored: list[torch.Tensor] = []

        def record(value: object) -> None:
            if not isinstance(value, torch.Tensor):
                raise LayerError(
                    f"layer: {self.layer.name!r} gives {type(value).__name__}; the truth needs "
                    "a tensor layer"
                )
            stored.append(value.detach().clone())

        handle = register_site_hook(self.layer, record)
        try:
            outputs = self.model(image)
        finally:
            handle.remove()
        if len(stored) != 1:
            raise LayerError(
                f"layer: {self.layer.name!r} ran {len(stored)} times in one forward pass; pick a "
                "module that runs exactly once on the path from the input to the output"
            )
        return Prepared(stored[0], outputs, image=image)

    def run(self, prepared: Prepared, values: torch.Tensor) -> Any:
        """The model's outputs when the layer's tensor is ``values`` (N, ...) for this image."""
        n = len(values)
        if self.route == GRAPH:
            context = [_expand(item, n) for item in prepared.context]
            return self.downstream(values, *context)
        def substitute(_value: object) -> torch.Tensor:
            return values

        handle = register_site_hook(self.layer, substitute)
        try:
            return self.model(prepared.image.expand(n, *prepared.image.shape[1:]))
        finally:
            handle.remove()


def _expand(item: Any, n: int) -> Any:
    """A context value for a batch of n coalitions: batch-1 tensors repeat along dim 0."""
    if isinstance(item, torch.Tensor) and item.dim() > 0 and item.shape[0] == 1:
        # a copy, not a view: an in-place op of the head on a context value must not reach
        # the cached value (nor write through a stride-0 view)
        return item.expand(n, *item.shape[1:]).clone()
    return item


class _LayerLeafTracer(fx.Tracer):
    """torch.fx's tracer that keeps the target layer (and standard modules) as single calls."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return module is self.layer or super().is_leaf_module(module, qualified_name)


def build_head(
    model: nn.Module,
    layer: ResolvedLayer,
    image: torch.Tensor,
    score: Callable[[Any], torch.Tensor],
) -> Head:
    """The head of ``model`` after ``layer``: the graph route when it is checked sound on
    ``image`` (1, C, H, W) with the target ``score`` (outputs -> (N,) scores), else the
    full-forward route with the reason."""
    fallback = Head(model, layer)
    if layer.reshape is not None:
        fallback.reason = "a custom reshape_transform"
        return fallback
    try:
        head = _split(model, layer)
    except Exception as error:  # any tracing failure means: no graph route
        fallback.reason = f"torch.fx could not split the model ({type(error).__name__}: {error})"
        return fallback
    if isinstance(head, str):
        fallback.reason = head
        return fallback
    problem = _check_sound(head, fallback, image, score)
    if problem:
        fallback.reason = problem
        return fallback
    return head


def _split(model: nn.Module, layer: ResolvedLayer) -> Head | str:
    """Trace ``model`` and cut its graph at ``layer``; a string says why it cannot be cut."""
    module_name = layer.name.removesuffix(":input")
    graph = _LayerLeafTracer(layer.module).trace(model)
    calls = [n for n in graph.nodes if n.op == "call_module" and n.target == module_name]
    if len(calls) != 1:
        return f"the layer appears {len(calls)} times in the traced graph"
    call = calls[0]
    if layer.site == "input":
        if not call.args or not isinstance(call.args[0], fx.Node):
            return "the layer's first input is not a traced value"
        cut, seeds = call.args[0], [call]
    else:
        cut, seeds = call, list(call.users)
    downstream_nodes = _descendants(seeds)
    output = next(n for n in graph.nodes if n.op == "output")
    if output not in downstream_nodes:
        raise TargetError(
            f"targets: the model's output does not depend on layer {layer.name!r}"
        )
    sub, context = _downstream_graph(graph, downstream_nodes, cut, call, layer.site)
    root = fx.GraphModule(model, graph)
    return Head(
        model,
        layer,
        GRAPH,
        upstream=root,
        downstream=fx.GraphModule(model, sub),
        needed=[cut, *context],
    )


def _descendants(seeds: list[fx.Node]) -> set[fx.Node]:
    """The seeds and every node that reads them, transitively."""
    found: set[fx.Node] = set()
    stack = list(seeds)
    while stack:
        node = stack.pop()
        if node not in found:
            found.add(node)
            stack.extend(node.users)
    return found


def _downstream_graph(
    graph: fx.Graph, nodes: set[fx.Node], cut: fx.Node, call: fx.Node, site: str
) -> tuple[fx.Graph, list[fx.Node]]:
    """A graph of ``nodes`` whose inputs are the layer's tensor and the context values (nodes
    outside ``nodes`` that they read; parameters and buffers are copied as attributes)."""
    ordered = [node for node in graph.nodes if node in nodes]
    read = [
        arg
        for node in ordered
        for arg in _read_nodes(node, call if site == "input" else None)
        if arg not in nodes and (site == "input" or arg is not cut)
    ]
    context = [
        node for node in dict.fromkeys(read) if node.op != "get_attr"
    ]  # dict.fromkeys: unique, in first-read order
    sub = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    value = sub.placeholder("layer_value")
    if site == "output":
        env[cut] = value
    for i, node in enumerate(context):
        env[node] = sub.placeholder(f"context_{i}")
    for node in dict.fromkeys(read):
        if node.op == "get_attr":
            env[node] = sub.get_attr(node.target)
    for node in ordered:
        if node is call and site == "input":
            args, kwargs = fx.map_arg((call.args[1:], call.kwargs), env.__getitem__)
            env[node] = sub.call_module(call.target, (value, *args), kwargs)
        else:
            env[node] = sub.node_copy(node, env.__getitem__)
    return sub, context


def _read_nodes(node: fx.Node, replaced_call: fx.Node | None) -> list[fx.Node]:
    """The nodes ``node`` reads (for the replaced call of an input site, all but its first
    argument, which becomes the layer's tensor)."""
    args = node.args[1:] if node is replaced_call else node.args
    found: list[fx.Node] = []
    fx.map_arg((args, node.kwargs), found.append)
    return found


def _check_sound(head: Head, fallback: Head, image: torch.Tensor, score) -> str:
    """'' when the downstream graph reproduces the model's eager scores on two copies of the
    image's own layer tensor; otherwise why not."""
    try:
        prepared = head.prepare(image)
        eager = fallback.prepare(image)
        rows = prepared.value.expand(2, *prepared.value.shape[1:])
        graph_scores = score(head.run(prepared, rows))
    except Exception as error:  # a graph that cannot run a batch of two is not sound
        return f"the downstream graph failed on a batch ({type(error).__name__}: {error})"
    eager_scores = score(eager.outputs)
    if not isinstance(graph_scores, torch.Tensor) or graph_scores.shape != (2,):
        return "the downstream graph does not keep the batch dimension"
    reference = eager_scores.reshape(-1)[:1].expand(2)
    scale = float(reference.abs().max()) + 1e-6
    if float((graph_scores - reference).abs().max()) > CHECK_RTOL * scale + 1e-6:
        return "the downstream graph's scores differ from the model's eager forward"
    return ""
