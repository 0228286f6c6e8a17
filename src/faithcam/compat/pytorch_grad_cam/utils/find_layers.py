"""pytorch-grad-cam's layer search and replacement helpers, depth first over the submodules in
their registration order. The ``replace_*`` functions edit the model, as the peer's: they are
the user's explicit request (the drop-in's own classes never edit a model)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn


def replace_layer_recursive(model: nn.Module, old_layer: nn.Module, new_layer: nn.Module) -> bool:
    """Replace the first submodule equal to ``old_layer`` by ``new_layer``; True if found."""
    for name, layer in model.named_children():
        if layer == old_layer:
            setattr(model, name, new_layer)
            return True
        if replace_layer_recursive(layer, old_layer, new_layer):
            return True
    return False


def replace_all_layer_type_recursive(
    model: nn.Module, old_layer_type: type | tuple[type, ...], new_layer: nn.Module
) -> None:
    """Replace every submodule that is an ``old_layer_type`` by ``new_layer``."""
    for name, layer in model.named_children():
        if isinstance(layer, old_layer_type):
            setattr(model, name, new_layer)
        replace_all_layer_type_recursive(layer, old_layer_type, new_layer)


def find_layer_types_recursive(model: nn.Module, layer_types: Sequence[type]) -> list[nn.Module]:
    """Every submodule whose exact type is one of ``layer_types``."""
    return find_layer_predicate_recursive(model, lambda layer: type(layer) in layer_types)


def find_layer_predicate_recursive(
    model: nn.Module, predicate: Callable[[nn.Module], bool]
) -> list[nn.Module]:
    """Every submodule for which ``predicate`` holds (a module reached twice is listed twice)."""
    found = []
    for _, layer in model.named_children():
        if predicate(layer):
            found.append(layer)
        found.extend(find_layer_predicate_recursive(layer, predicate))
    return found
