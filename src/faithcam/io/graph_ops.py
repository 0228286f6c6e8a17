"""Which operators an untrusted ``torch.export`` graph may call: side-effect-free ones only.

Running a graph is running its operators, and some reach outside the tensors:
``aten::from_file(filename, shared=True)`` maps a file read-write (it creates or overwrites
files), ``aten::_print`` writes to stdout, ``_cufft_set_plan_cache_max_size`` changes global
state; and the deserialiser resolves a node's target by walking attributes of ``torch``, so a
crafted graph can name a Python function such as ``torch.serialization.os.system`` (torch's
verifier refuses those today; this check does not rely on it). A deny-list would have to know
every such path, so this is an allow-list, checked on the loaded program before it runs:

- an ``aten`` operator of the Core ATen IR (``torch.Tag.core``: the functional operator set
  that backends implement; tensor math, views, reductions, factories), in any overload, or an
  in-place / ``_copy`` variant of one (``relu_``, ``add_``);
- an ``aten`` operator with no kernel of its own (``CompositeImplicitAutograd``: it only calls
  other ATen operators, as ``conv2d``, ``linear``, ``flatten``, ``batch_norm``,
  ``scaled_dot_product_attention`` do) that takes a tensor (which leaves out the few
  composites that read or set global state, like ``_cufft_set_plan_cache_max_size``);
- an elementwise ``aten`` operator (``torch.Tag.pointwise``: ``silu``, ``hardsigmoid``) and its
  in-place variant;
- a vetted list of other tensor operators torch.export emits for vision models (:data:`_VETTED`:
  ``transpose``, ``roll``, ``hardswish``, ``new_zeros``...);
- the symbolic shape arithmetic torch.export itself emits (``operator.getitem``, ``add``,
  ``mul``, ``floordiv``... on sizes, ``torch.sym_max``...).

Operators whose name says they skip bounds checks (``_unsafe_index``, the sparse constructors)
are refused even where a rule would allow them. Every other target, from any other namespace
(custom operators, ``torchvision::``, ``_c10d_functional::`` collectives, ``profiler::``), a
higher-order operator, or a plain Python function, is refused by name unless the user trusts
the file. This keeps file, process and network access out of an untrusted graph; it does not
vouch that every kernel is memory-safe against crafted arguments.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterator
from typing import Any

import torch

_SHAPE_FUNCTIONS = frozenset(
    (
        operator.getitem,
        operator.eq,
        operator.ne,
        operator.le,
        operator.ge,
        operator.lt,
        operator.gt,
        operator.neg,
        operator.pos,
        operator.mul,
        operator.add,
        operator.sub,
        operator.floordiv,
        operator.mod,
        operator.pow,
        operator.truediv,
        operator.and_,
        operator.or_,
        math.trunc,
        torch.sym_not,
        torch.sym_int,
        torch.sym_float,
        torch.sym_ite,
        torch.sym_max,
        torch.sym_min,
        torch.sym_sqrt,
    )
)
# Operators that skip their own bounds checks (``_unsafe_index``, the sparse constructors with
# unchecked indices) could read or write outside a tensor: refused even where a rule allows them.
_UNCHECKED = ("unsafe", "sparse", "_test_")
_VARIANT_SUFFIXES = ("_copy", "_")  # relu_, alias_copy: the same computation
# Non-core ATen operators with kernels of their own that torch.export emits for ordinary vision
# models (torchvision's classifiers, CNNs and transformers), each a tensor computation whose
# schema takes tensors, sizes and numbers only, and the assertions of dynamic shapes.
_VETTED = frozenset(
    (  # noqa: SIM905 - a word list reads best as one string
        "transpose t swapaxes new_zeros new_ones new_full new_empty roll lift_fresh_copy zero_ "
        "linalg_vector_norm hardswish hardswish_ upsample_bicubic2d _upsample_bilinear2d_aa "
        "upsample_linear1d upsample_nearest1d upsample_nearest3d upsample_trilinear3d "
        "channel_shuffle native_channel_shuffle pixel_shuffle pixel_unshuffle std var_mean "
        "std_mean logsumexp softplus mish erfinv baddbmm unfold unbind detach triu tril "
        "adaptive_max_pool2d cumprod argsort _unsafe_view im2col "
        # the runtime checks torch.export inserts for dynamic shapes: they only raise
        "_assert_scalar _assert_async _assert_tensor_metadata sym_constrain_range "
        "sym_constrain_range_for_size _functional_assert_async _functional_assert_scalar "
        "_functional_sym_constrain_range _functional_sym_constrain_range_for_size"
    ).split()
)


def _target_name(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}::{target._opname}.{target._overloadname}"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    return f"{module}.{name}" if module and name else repr(target)


@functools.cache
def _aten_overload(name: str, overload: str) -> Any:
    packet = getattr(torch.ops.aten, name, None)
    return getattr(packet, overload, None) if packet is not None else None


def _tagged(name: str, tag: Any) -> bool:
    """Whether some overload of ``aten::name`` carries ``tag``."""
    packet = getattr(torch.ops.aten, name, None)
    if packet is None:
        return False
    return any(tag in getattr(packet, o).tags for o in packet.overloads())


@functools.cache
def _allowed_aten(name: str, overload: str) -> bool:
    op = _aten_overload(name, overload)
    if op is None:
        return False
    if name in _VETTED:
        return True
    if any(word in name for word in _UNCHECKED):
        return False
    base = next((name[: -len(s)] for s in _VARIANT_SUFFIXES if name.endswith(s)), name)
    if any(_tagged(n, tag) for n in (name, base) for tag in (torch.Tag.core, torch.Tag.pointwise)):
        return True
    try:
        composite = torch._C._dispatch_has_kernel_for_dispatch_key(
            op.name(), "CompositeImplicitAutograd"
        )
    except RuntimeError:
        return False
    return composite and any("Tensor" in str(arg.type) for arg in op._schema.arguments)


def is_allowed(target: Any) -> bool:
    """Whether an untrusted graph may call ``target`` (see the module docstring)."""
    if isinstance(target, torch._ops.OpOverload):
        return target.namespace == "aten" and _allowed_aten(target._opname, target._overloadname)
    try:
        return target in _SHAPE_FUNCTIONS
    except TypeError:  # an unhashable callable
        return False


def _graphs(program: torch.export.ExportedProgram) -> Iterator[torch.fx.Graph]:
    for module in program.graph_module.modules():
        graph = getattr(module, "graph", None)
        if isinstance(graph, torch.fx.Graph):
            yield graph


def disallowed_operators(program: torch.export.ExportedProgram) -> list[str]:
    """The targets of ``program`` (and of its sub-graphs) that are not allowed, sorted."""
    found = set()
    for graph in _graphs(program):
        for node in graph.nodes:
            if node.op in ("placeholder", "output", "get_attr"):
                continue
            if node.op != "call_function":
                found.add(f"{_target_name(node.target)} (a {node.op} node)")
            elif not is_allowed(node.target):
                found.add(_target_name(node.target))
    return sorted(found)
