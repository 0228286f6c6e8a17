"""Write the leaderboard: per-image and per-case CSVs, a markdown table (docs include it), an
HTML page with a heat map, and the table as text for the terminal."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faithcam.errors import FaithcamValueError
from faithcam.truth.leaderboard import CaseTruth, Row, Summary
from faithcam.truth.ranking import Place, format_place
from faithcam.truth.scores import HIGHER_IS_BETTER, SCORES


@dataclass
class Standing:
    """A method's mean rank and mean scores over the cases it ran on (each case weighs the
    same)."""

    method: str
    family: str
    cases: int
    means: dict[str, float]
    seconds: float
    place: Place | None = None


def _order(standing: Standing) -> tuple[float, float]:
    place = standing.place.rank if standing.place is not None else math.inf
    spearman = standing.means["spearman"]
    return (place, -spearman if math.isfinite(spearman) else math.inf)


def standings(summaries: list[Summary]) -> list[Standing]:
    """Methods by their mean rank over cases (best first; ties by mean Spearman)."""
    methods: dict[str, list[Summary]] = {}
    for s in summaries:
        if s.status == "ok":
            methods.setdefault(s.method, []).append(s)
    table = [
        Standing(
            method,
            group[0].method_family,
            len(group),
            {score: _nanmean([s.means[score][0] for s in group]) for score in SCORES},
            float(np.mean([s.seconds for s in group])),
            group[0].mean_place,
        )
        for method, group in methods.items()
    ]
    return sorted(table, key=_order)


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _fmt(value: float, digits: int = 2) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _interval(mean_low_high: tuple[float, float, float]) -> str:
    mean, low, high = mean_low_high
    if not math.isfinite(low):
        return _fmt(mean)
    return f"{_fmt(mean)} [{_fmt(low)}, {_fmt(high)}]"


def write_csvs(out: Path, rows: list[Row], summaries: list[Summary]) -> None:
    with open(out / "scores.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "case_family", "method", "method_family", "image", *SCORES,
                         "seconds_per_image", "status"])  # fmt: skip
        for r in rows:
            scores = [r.scores[s] for s in SCORES]
            writer.writerow([r.case, r.case_family, r.method, r.method_family, r.image, *scores,
                             f"{r.seconds:.4f}", r.status])  # fmt: skip
    with open(out / "leaderboard.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        bounds = [f"{s}{suffix}" for s in ("rank", "mean_rank", *SCORES)
                  for suffix in ("", "_low", "_high")]  # fmt: skip
        writer.writerow(["case", "case_family", "method", "method_family", "images", *bounds,
                         "seconds_per_image", "status"])  # fmt: skip
        for s in summaries:
            places = [v for place in (s.place, s.mean_place) for v in _place_values(place)]
            values = [v for score in SCORES for v in s.means[score]]
            writer.writerow([s.case, s.case_family, s.method, s.method_family, s.n, *places,
                             *values, f"{s.seconds:.4f}", s.status])  # fmt: skip


def _place_values(place: Place | None) -> tuple[float, float, float]:
    return (math.nan,) * 3 if place is None else (place.rank, place.low, place.high)


Table = tuple[list[str], list[list[str]]]


def to_markdown(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def overall_table(summaries: list[Summary]) -> Table:
    header = ["#", "method", "family", "mean rank [95 %] ↓", "Spearman ↑", "top-k ↑", "sign ↑",
              "distance ↓", "cases", "s / image"]  # fmt: skip
    rows = [
        [str(i), s.method, s.family, format_place(s.place),
         *(_fmt(s.means[score]) for score in SCORES), str(s.cases), f"{s.seconds:.3f}"]
        for i, s in enumerate(standings(summaries), 1)
    ]  # fmt: skip
    return header, rows


def family_table(summaries: list[Summary], score: str = "spearman") -> Table:
    """Mean ``score`` per case family (columns) for every method (rows, in standing order)."""
    families = list(dict.fromkeys(s.case_family for s in summaries))
    cells: dict[tuple[str, str], list[float]] = {}
    for s in summaries:
        if s.status == "ok":
            cells.setdefault((s.method, s.case_family), []).append(s.means[score][0])
    rows = [
        [s.method, *(_fmt(_nanmean(cells.get((s.method, f), []))) for f in families)]
        for s in standings(summaries)
    ]
    return ["method", *families], rows


def case_table(truths: list[CaseTruth]) -> Table:
    header = ["case", "family", "grid", "images", "truth", "relative error", "route",
              "seconds", "what makes it hard"]  # fmt: skip
    rows = []
    for t in truths:
        if t.status != "ok":
            rows.append([t.case, t.family, "–", str(t.images), t.status, "–", "–", "–", t.hard])
            continue
        kind = "exact" if t.exact else f"sampled ({t.permutations} permutations)"
        rows.append([t.case, t.family, f"{t.grid[0]}×{t.grid[1]}", str(t.images),
                     f"{kind}, {t.baseline} baseline", f"{t.relative_error:.1e}", t.route,
                     f"{t.seconds:.1f}", t.hard])  # fmt: skip
    return header, rows


def per_case_table(summaries: list[Summary], score: str | None = "spearman") -> Table:
    """``score`` with its 95 % interval for every (method, case); None: the method's rank on
    the case with its interval."""
    cases = list(dict.fromkeys(s.case for s in summaries))
    found = {(s.method, s.case): s for s in summaries}
    rows = []
    for standing in standings(summaries):
        cells = []
        for case in cases:
            s = found.get((standing.method, case))
            if s is None or s.status != "ok":
                cells.append("n/a")
            else:
                cells.append(format_place(s.place) if score is None else _interval(s.means[score]))
        rows.append([standing.method, *cells])
    return ["method", *cases], rows


# The seed methods' current defaults (their leaderboard labels).
DEFAULT_LABELS = {
    "integrated": "integrated-gradcam (paper, left, m=50)",
    "expected": "expected-gradcam (defaults)",
}


def seed_table(summaries: list[Summary], score: str = "spearman") -> Table:
    """Per case family (and over all cases): the best comparator, each seed method at its
    defaults and its best variant on that family, by mean ``score``."""
    families = [*dict.fromkeys(s.case_family for s in summaries), "all"]
    cells: dict[tuple[str, str], list[float]] = {}
    kind = {s.method: s.method_family for s in summaries}
    for s in summaries:
        if s.status == "ok":
            for family in (s.case_family, "all"):
                cells.setdefault((s.method, family), []).append(s.means[score][0])
    means = {key: _nanmean(values) for key, values in cells.items()}

    def best(group: str, family: str) -> str:
        found = [(v, m) for (m, f), v in means.items()
                 if f == family and kind[m] == group and math.isfinite(v)]  # fmt: skip
        if not found:
            return "–"
        value, method = max(found)
        return f"{_fmt(value)} ({method})"

    rows = [["best comparator", *(best("comparator", f) for f in families)]]
    for group, label in DEFAULT_LABELS.items():
        rows.append([f"{label}", *(_fmt(means.get((label, f), math.nan)) for f in families)])
        rows.append([f"best {group} variant", *(best(group, f) for f in families)])
    return ["", *families], rows


def sections(truths: list[CaseTruth], summaries: list[Summary]) -> list[tuple[str, Table]]:
    """(caption, table) of every table of the report, in order."""
    direction = ", ".join(f"{s} {'↑' if HIGHER_IS_BETTER[s] else '↓'}" for s in SCORES)
    return [
        ("Cases and their truth", case_table(truths)),
        ("Leaderboard: mean rank over cases (1 = best on a case, by mean Spearman; 95 % paired "
         f"bootstrap interval), and each score's mean over cases ({direction})",
         overall_table(summaries)),
        ("Rank per case (1 = best): rank [95 % paired bootstrap interval]",
         per_case_table(summaries, None)),
        ("Seed methods against the best comparator: Spearman correlation by case family",
         seed_table(summaries)),
        ("Spearman correlation by case family", family_table(summaries)),
        ("Spearman correlation per case: mean [95 % bootstrap interval] over images",
         per_case_table(summaries)),
        ("Distance per case: mean [95 % bootstrap interval] over images",
         per_case_table(summaries, "distance")),
    ]  # fmt: skip


def markdown(truths: list[CaseTruth], summaries: list[Summary], title: str) -> str:
    parts = [f"<!-- generated by `faithcam truth` ({title}); do not edit by hand -->",
             f"**Run:** {title}."]  # fmt: skip
    parts += [f"**{caption}**\n\n{to_markdown(table)}" for caption, table in sections(
        truths, summaries)]  # fmt: skip
    return "\n\n".join(parts) + "\n"


DOC_START, DOC_END = "<!-- truth:leaderboard:start -->", "<!-- truth:leaderboard:end -->"


def doc_markers(section: str = "leaderboard") -> tuple[str, str]:
    """The markers between which ``--update-doc`` writes the tables of ``section``."""
    return f"<!-- truth:{section}:start -->", f"<!-- truth:{section}:end -->"


def check_doc(path: Path, section: str = "leaderboard", option: str = "--update-doc") -> str:
    """The text of the markdown file ``path``, which must hold the markers of ``section``
    (errors name ``option``, the argument that gave the path)."""
    if not path.is_file():
        raise FaithcamValueError(f"{option}: no file {path}")
    content = path.read_text(encoding="utf-8")
    start, end = doc_markers(section)
    if start not in content or end not in content:
        raise FaithcamValueError(f"{option}: {path} has no {start} ... {end} markers to fill")
    return content


def update_doc(path: Path, text: str, section: str = "leaderboard") -> None:
    """Replace what lies between the markers of ``section`` in the markdown file ``path``."""
    content = check_doc(path, section)
    start, end = doc_markers(section)
    before, rest = content.split(start, 1)
    _, after = rest.split(end, 1)
    path.write_text(f"{before}{start}\n{text}{end}{after}", encoding="utf-8")


def readme_table(summaries: list[Summary], title: str) -> str:
    """The compact leaderboard for a README: place, method, mean rank [95 %], mean Spearman."""
    rows = [
        [str(i), s.method, format_place(s.place), _fmt(s.means["spearman"])]
        for i, s in enumerate(standings(summaries), 1)
    ]
    table = to_markdown((["#", "method", "mean rank [95 %] ↓", "mean Spearman ρ ↑"], rows))
    return f"<!-- generated by `faithcam truth` ({title}); do not edit by hand -->\n{table}\n"


def text_table(summaries: list[Summary]) -> str:
    """The leaderboard for the terminal."""
    table = standings(summaries)
    width = max([len(s.method) for s in table] + [6])
    head = (f"{'#':>3}  {'method':<{width}}  {'mean rank [95 %]':<18}  rho    top-k  sign   "
            "dist   cases")  # fmt: skip
    lines = [head, "-" * len(head)]
    for i, s in enumerate(table, 1):
        m = s.means
        lines.append(
            f"{i:>3}  {s.method:<{width}}  {format_place(s.place):<18}  {_fmt(m['spearman']):>5}  "
            f"{_fmt(m['topk']):>5}  {_fmt(m['sign']):>5}  {_fmt(m['distance']):>5}  {s.cases:>5}"
        )
    return "\n".join(lines)
