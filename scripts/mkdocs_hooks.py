"""mkdocs hooks (mkdocs.yml, ``hooks:``): the docs are written as GitHub renders markdown.

- A list may follow a paragraph line directly (GitHub starts the list; Python-Markdown would run
  the items into the paragraph): a blank line is put before such a list.
- The docstrings cross-reference with Sphinx roles (``:class:`~faithcam.Target```), which
  mkdocstrings leaves as text before the code span (``:class:<code>~faithcam.Target</code>``):
  the role is dropped and, for ``~``, the last dotted name kept, as Sphinx shows it.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:class|func|meth|data|mod|attr|exc|obj):<code>(~?)([\w.]+)</code>")
LIST_ITEM = re.compile(r"(?:[-*+]|\d+\.) ")


def separate_lists(markdown: str) -> str:
    """A blank line before every top-level list item that follows a paragraph line."""
    out: list[str] = []
    fenced = False
    for line in markdown.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        previous = out[-1] if out else ""
        follows_text = previous.strip() and not previous[0].isspace()
        if not fenced and LIST_ITEM.match(line) and follows_text and not LIST_ITEM.match(previous):
            out.append("")
        out.append(line)
    return "\n".join(out)


def show_role(match: re.Match[str]) -> str:
    name = match[2].rsplit(".", 1)[-1] if match[1] else match[2]
    return f"<code>{name}</code>"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return separate_lists(markdown)


def on_page_content(html: str, **kwargs: Any) -> str:
    return ROLE.sub(show_role, html)
