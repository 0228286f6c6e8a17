"""Fail on private names used across modules in src/ (``make lint``).

python scripts/check_private_imports.py [SRC]

A name that starts with one underscore (dunders are public) belongs to where it is defined:
- a private module (``faithcam.metrics._common``) to its package: only modules inside
  ``faithcam.metrics`` may import it;
- a private function, class or constant (``faithcam.cams.gradient_free._masks``) to its module:
  ``from faithcam.cams.gradient_free import _masks`` elsewhere, or ``gradient_free._masks``
  through an imported module, is an offence;
- a private attribute or method of a class (``self._images`` in ``cams/baselines.py``) to the
  module of that class: ``baseline._images`` read anywhere but on ``self``/``cls`` in another
  module is an offence. Attributes are matched by name (no type inference): a private name that
  no faithcam class defines (a torch internal such as ``module._forward_hooks``) is not checked,
  and one that the reading module also defines counts as its own.

Prints one line per offence, ``path:line: importer uses owner.name``, and exits 1 when there is
any.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "faithcam"


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_"


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def owner_of(dotted: str) -> str | None:
    """The scope a dotted name is private to (None when no part is private): what holds its
    last private part (the package of a private module, the module of a private name)."""
    parts = dotted.split(".")
    private = [i for i, part in enumerate(parts) if is_private(part)]
    return ".".join(parts[: private[-1]]) if private else None


def inside(module: str, scope: str) -> bool:
    return module == scope or module.startswith(scope + ".")


def class_private_names(tree: ast.Module) -> set[str]:
    """Private attribute and method names that the classes of a module define."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:  # methods and class-level attributes
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(statement.name)
            targets = getattr(statement, "targets", None) or [getattr(statement, "target", None)]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        for item in ast.walk(node):  # self._x = ... anywhere in the class
            if (
                isinstance(item, ast.Attribute)
                and isinstance(item.ctx, ast.Store)
                and dotted(item.value) in ("self", "cls")
            ):
                names.add(item.attr)
    return {name for name in names if is_private(name)}


def imported_names(tree: ast.Module, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted faithcam name) for every name an import statement brings in."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == PACKAGE]


def module_aliases(tree: ast.Module, modules: set[str]) -> dict[str, str]:
    """Local names bound to faithcam modules by imports (``import a.b as c``, ``from a import
    b`` where a.b is a module)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    aliases[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def attribute_offences(
    tree: ast.Module, module: str, aliases: dict[str, str], owners: dict[str, set[str]]
) -> list[tuple[int, str]]:
    """(line, owner.name) for private attributes read across modules."""
    own = {name for name, where in owners.items() if module in where}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not is_private(node.attr):
            continue
        base = dotted(node.value)
        head = base.split(".")[0] if base else None
        if head in ("self", "cls") or (isinstance(node.value, ast.Call) and dotted(
            node.value.func
        ) == "super"):
            continue
        if head in aliases:  # module._name through an imported faithcam module
            target = aliases[head] + base[len(head):]
            if not inside(module, target):
                found.append((node.lineno, f"{target}.{node.attr}"))
        elif node.attr in owners and node.attr not in own:
            found.append((node.lineno, f"{'/'.join(sorted(owners[node.attr]))}.{node.attr}"))
    return found


def offences(src: Path) -> list[str]:
    files = sorted(src.rglob("*.py"))
    trees = {path: ast.parse(path.read_text(), str(path)) for path in files}
    modules = {module_name(path, src) for path in files}
    owners: dict[str, set[str]] = defaultdict(set)
    for path, tree in trees.items():
        for name in class_private_names(tree):
            owners[name].add(module_name(path, src))
    lines: list[str] = []
    for path, tree in trees.items():
        module = module_name(path, src)
        for line, name in imported_names(tree, module, path.name == "__init__.py"):
            scope = owner_of(name)
            if scope is not None and not inside(module, scope):
                lines.append(f"{path}:{line}: {module} imports {name}")
        for line, name in attribute_offences(tree, module, module_aliases(tree, modules), owners):
            lines.append(f"{path}:{line}: {module} reads {name}")
    return lines


def main(argv: list[str]) -> int:
    src = Path(argv[0] if argv else "src")
    found = offences(src)
    print("\n".join(found) if found else "no private name crosses a module")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
