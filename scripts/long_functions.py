"""List the functions longer than a limit (default 80 lines, decorators and docstring included)
in the given source folders; exit 1 if there is one.

    python scripts/long_functions.py src/faithcam            # every module
    python scripts/long_functions.py --max 80 src/faithcam/cams src/faithcam/engine
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def long_functions(paths: list[Path], limit: int) -> list[tuple[str, int, str, int]]:
    """(file, line, name, length) of every function or method over ``limit`` lines."""
    found = []
    for path in paths:
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    length = node.end_lineno - start + 1
                    if length > limit:
                        found.append((str(file), node.lineno, node.name, length))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--max", type=int, default=80, help="longest allowed (default: 80)")
    args = parser.parse_args()
    found = long_functions(args.paths, args.max)
    for file, line, name, length in found:
        print(f"{file}:{line}: {name} is {length} lines (max {args.max})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
