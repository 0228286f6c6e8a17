"""Every published figure, the command that makes it and the code that draws it.

    python scripts/figures.py NAME [NAME ...]   # make these figures (make figures: all)
    python scripts/figures.py --check           # which figures are older than their code

Making a figure records, in docs/figures.json beside the figures, a hash of the code that
draws it (its ``sources``: Python files hashed by their syntax tree without docstrings, so an
edit of comments or docstrings keeps the figure current; other files by their bytes).
tests/project/test_figures.py fails when a committed figure's recorded hash differs from the code's
hash now: the figure shows what older code drew, and ``make figures`` (or the figure's own
target) regenerates it.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "docs" / "figures.json"
PY = sys.executable
# what computes the maps a figure shows, and what draws them
METHODS = ("src/faithcam/cams/**/*.py", "src/faithcam/engine/**/*.py")
DRAWING = ("src/faithcam/**/viz.py",)
PHOTOS = ("src/faithcam/io/pretrained.py", "src/faithcam/io/images.py")


@dataclass(frozen=True)
class Figure:
    """A published figure: its make target, the command that writes it, and the source
    globs (relative to the repository) whose code draws it."""

    target: str
    command: tuple[str, ...]
    sources: tuple[str, ...]


FIGURES = {
    "docs/seed-methods-chelsea.png": Figure(
        "figure",
        (PY, "-m", "faithcam", "demo", "--figure", "docs/seed-methods-chelsea.png"),
        (*METHODS, *DRAWING, *PHOTOS, "src/faithcam/**/demo*.py", "src/faithcam/demo/*.py"),
    ),
    "docs/compare-chelsea.png": Figure(
        "compare-figure",
        (PY, "scripts/compare_figure.py"),
        (*METHODS, *DRAWING, *PHOTOS, "scripts/compare_figure.py", "src/faithcam/cli/commands.py"),
    ),
    "docs/evaluate-report.png": Figure(
        "evaluate-screenshot",
        (PY, "scripts/evaluate_screenshot.py"),
        (
            *METHODS, *DRAWING, *PHOTOS, "scripts/evaluate_screenshot.py",
            "src/faithcam/cli/evaluate*.py", "src/faithcam/io/report.py",
            "src/faithcam/metrics/**/*.py", "src/faithcam/studies/**/*.py",
        ),
    ),
    "docs/serve.png": Figure(
        "serve-screenshot",
        (PY, "scripts/serve_screenshot.py", "--out", "docs/serve.png"),
        (*METHODS, *PHOTOS, "scripts/serve_screenshot.py", "src/faithcam/serve/**/*"),
    ),
    "docs/convergence.png": Figure(
        "convergence-figure",
        (
            PY, "-m", "benchmarks.bench_convergence", "--merge",
            "benchmarks/results/convergence.json", "--out", "/dev/null",
        ),
        ("benchmarks/bench_convergence.py", "benchmarks/results/convergence.json"),
    ),
}


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list) and body and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)
        ):  # fmt: skip
            node.body = body[1:] or [ast.Pass()]
    return tree


def file_digest(path: Path) -> str:
    """A Python file's syntax tree without docstrings (comments are not in it), or the bytes
    of any other file."""
    data = path.read_bytes()
    if path.suffix == ".py":
        data = ast.dump(_without_docstrings(ast.parse(data))).encode()
    return hashlib.sha256(data).hexdigest()


def code_hash(figure: Figure) -> str:
    """The hash of the figure's drawing code: its source files' digests, sorted (a file moved
    without change keeps the hash)."""
    files = {p for pattern in figure.sources for p in ROOT.glob(pattern) if p.is_file()}
    files = {p for p in files if "__pycache__" not in p.parts}
    digests = sorted(file_digest(p) for p in files)
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def recorded() -> dict[str, dict[str, str]]:
    return json.loads(RECORD.read_text()) if RECORD.exists() else {}


def stale() -> list[str]:
    """The figures whose recorded hash differs from their code's hash now (or that are
    missing), each with the make target that regenerates it."""
    record = recorded()
    found = []
    for name, figure in FIGURES.items():
        entry = record.get(name, {})
        if not (ROOT / name).exists() or entry.get("code") != code_hash(figure):
            found.append(f"{name} (make {figure.target})")
    return found


def make(name: str) -> None:
    """Run the figure's command, then record its code hash."""
    figure = FIGURES[name]
    print(f"figures: {name}: {' '.join(figure.command[1:])}", flush=True)
    subprocess.run(figure.command, cwd=ROOT, check=True)
    record = recorded()
    record[name] = {"code": code_hash(figure), "command": " ".join(figure.command[1:])}
    RECORD.write_text(json.dumps(dict(sorted(record.items())), indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"figures, or all ({', '.join(FIGURES)})")
    parser.add_argument("--check", action="store_true", help="list the stale figures")
    args = parser.parse_args()
    if args.check:
        found = stale()
        print("\n".join(found) if found else "every figure is current")
        return 1 if found else 0
    names = list(FIGURES) if args.names in ([], ["all"]) else args.names
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; known: {', '.join(FIGURES)}")
    for name in names:
        make(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
