"""List the functions in src/ longer than the limit (``make lint``; the developers' guide: 80).

python scripts/check_function_length.py [SRC] [--max N]

A function's length runs from its ``def`` line (its first decorator, when it has one) to its
last line, docstring and nested functions included. Prints ``path:line: name (N lines)`` per
offender, longest first, and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

MAX_LINES = 80


def function_lengths(path: Path) -> list[tuple[int, str, int]]:
    """(line, qualified name, length) of every function and method in ``path``."""
    found: list[tuple[int, str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = f"{prefix}{getattr(child, 'name', '')}"
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                found.append((start, name, child.end_lineno - start + 1))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(), str(path)), "")
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", default="src", type=Path)
    parser.add_argument("--max", type=int, default=MAX_LINES, dest="max_lines")
    args = parser.parse_args(argv)
    offenders = [
        (length, f"{path}:{line}: {name} ({length} lines)")
        for path in sorted(args.src.rglob("*.py"))
        for line, name, length in function_lengths(path)
        if length > args.max_lines
    ]
    for _, text in sorted(offenders, key=lambda item: -item[0]):
        print(text)
    if not offenders:
        print(f"no function in {args.src} is over {args.max_lines} lines")
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
