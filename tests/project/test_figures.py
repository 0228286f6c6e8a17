"""Every published figure is made by a make target and is no older than the code that draws it
(scripts/figures.py records a hash of that code in docs/figures.json)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _figures():
    spec = importlib.util.spec_from_file_location("figures", ROOT / "scripts" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["figures"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_committed_figure_is_newer_than_its_drawing_code():
    stale = _figures().stale()
    assert not stale, (
        "these figures were drawn by older code; regenerate them: " + "; ".join(stale)
    )


def test_every_figure_the_docs_show_is_made_by_a_make_target():
    figures = _figures()
    shown = {
        f"docs/{name}"
        for page in (ROOT / "docs").rglob("*.md")
        for name in re.findall(r"\]\(([\w./-]+\.png)\)", page.read_text(encoding="utf-8"))
    }
    assert shown <= set(figures.FIGURES), shown - set(figures.FIGURES)
    makefile = (ROOT / "Makefile").read_text()
    for figure in figures.FIGURES.values():
        assert re.search(rf"^{re.escape(figure.target)}:", makefile, re.M), figure.target


def test_the_hash_ignores_docstrings_and_comments_but_not_code(tmp_path):
    figures = _figures()
    source = tmp_path / "draw.py"
    source.write_text('def draw():\n    """Draw."""\n    return 1  # one\n')
    before = figures.file_digest(source)
    source.write_text('def draw():\n    """Draw a picture."""\n    # a comment\n    return 1\n')
    assert figures.file_digest(source) == before
    source.write_text('def draw():\n    """Draw."""\n    return 2\n')
    assert figures.file_digest(source) != before
