"""mkdocs hook (mkdocs.yml, ``hooks:``): Sphinx roles in docstrings read as plain code.

The docstrings cross-reference with Sphinx roles (``:class:`~faithcam.Target```), which
mkdocstrings leaves as text before the code span: ``:class:<code>~faithcam.Target</code>``.
This drops the role and, for ``~``, keeps the last dotted name, as Sphinx shows it.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:class|func|meth|data|mod|attr|exc|obj):<code>(~?)([\w.]+)</code>")


def show_role(match: re.Match[str]) -> str:
    name = match[2].rsplit(".", 1)[-1] if match[1] else match[2]
    return f"<code>{name}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    return ROLE.sub(show_role, html)
