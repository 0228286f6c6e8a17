"""A self-contained HTML report: images embedded as base64, tables, no external assets."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faithcam.outputs import write_fresh

# On load, record how many images decoded and how many tables exist on <body>, so a headless
# browser test (chromium --dump-dom) can check the page really rendered.
CHECK_SCRIPT = """
<script>
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  document.body.dataset.imagesDecoded = images.filter(function (i) {
    return i.complete && i.naturalWidth > 0; }).length + "/" + images.length;
  document.body.dataset.tables = document.querySelectorAll("table").length;
});
</script>
"""

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1.5em;max-width:1200px;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;margin:.3em 0}.note{color:#555;font-size:.9em}
caption{caption-side:bottom;text-align:left;color:#555;font-size:.85em;padding-top:.3em}
.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.row img{max-width:48%}
.best{font-weight:600}.lead{line-height:1.5;padding-left:1.2em}.lead li{margin:.25em 0}
table.settings td,table.settings th{text-align:left}
"""


def image_tag(path: str | Path, alt: str) -> str:
    """An <img> with the PNG embedded as a data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def table(
    header: Sequence[str], rows: Sequence[Sequence[object]], caption: str = "", css: str = ""
) -> str:
    """An HTML table; floats are printed with 3 decimals; ``css``: its class."""

    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    attribute = f' class="{html.escape(css)}"' if css else ""
    return f"<table{attribute}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass
class Report:
    """Sections of HTML appended in order, written as one file."""

    title: str
    parts: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str, note: bool = False) -> None:
        css = ' class="note"' if note else ""
        self.parts.append(f"<p{css}>{html.escape(text)}</p>")

    def image(self, path: str | Path, alt: str) -> None:
        self.parts.append(image_tag(path, alt))

    def images(self, figures: Sequence[tuple[str | Path, str]]) -> None:
        """PNGs side by side (``(path, alt)`` each), wrapping on a narrow page."""
        tags = "".join(image_tag(path, alt) for path, alt in figures)
        self.parts.append(f'<div class="row">{tags}</div>')

    def html(self, fragment: str) -> None:
        """HTML built by faithcam itself (every user-given text in it escaped by the caller)."""
        self.parts.append(fragment)

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[object]],
        caption: str = "",
        css: str = "",
    ) -> None:
        self.parts.append(table(header, rows, caption, css))

    def write(self, path: str | Path) -> Path:
        """Write the page to ``path`` through a fresh file (:func:`~faithcam.outputs.
        write_fresh`: a link planted at ``path`` is replaced, never followed)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "\n".join(self.parts)
        text = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}"
            f"</title><style>{STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>\n"
            f"{body}\n{CHECK_SCRIPT}</body></html>\n"
        )
        write_fresh(path, lambda fresh: fresh.write_text(text, encoding="utf-8"))
        return path
