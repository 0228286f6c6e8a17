"""`faithcam truth`: every method against the Shapley truth at the layer, on cases with a known
truth (:mod:`faithcam.truth`). Writes scores.csv (per image), leaderboard.csv (per case and
method, with 95 % intervals), leaderboard.md (the tables docs/truth.md includes), index.html
(tables and a heat map) and prints the leaderboard."""

from __future__ import annotations

import argparse
from pathlib import Path

QUICK_IMAGES, FULL_IMAGES = 6, 16


def add_truth_command(commands) -> None:
    """Register ``faithcam truth`` on the CLI's sub-parsers."""
    command = commands.add_parser(
        "truth",
        help="score every method against the Shapley truth at the layer (a leaderboard)",
        description=__doc__.splitlines()[0],
    )
    command.add_argument("--out", default="faithcam-truth", help="output folder (%(default)s)")
    command.add_argument(
        "--quick", action="store_true",
        help=f"the quick set: fewer methods and cases, {QUICK_IMAGES} images per case",
    )  # fmt: skip
    command.add_argument("--methods", help="comma-separated method labels or names (all)")
    command.add_argument("--cases", help="comma-separated case names (all)")
    command.add_argument("--images", type=int, help="images per case (quick 6, full 16)")
    command.add_argument(
        "--update-doc", metavar="FILE",
        help="also write the tables between the markers <!-- truth:SECTION:start/end --> of this "
        "markdown file",
    )  # fmt: skip
    command.add_argument(
        "--doc-section", default="leaderboard", metavar="SECTION",
        help="which markers --update-doc fills (%(default)s)",
    )  # fmt: skip
    command.add_argument(
        "--resume", action="store_true",
        help="reuse the cases an interrupted run finished (OUT/cases/*.json, same settings)",
    )  # fmt: skip
    command.add_argument(
        "--update-readme", metavar="README",
        help="also write the compact leaderboard between the file's <!-- truth:readme:start --> "
        "and <!-- truth:readme:end --> markers",
    )  # fmt: skip
    command.add_argument("--quiet", action="store_true", help="no progress bar or table")
    command.set_defaults(run=run_truth)


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [name.strip() for name in text.split(",") if name.strip()]


def run_truth(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from faithcam.errors import FaithcamValueError
    from faithcam.io.report import Report
    from faithcam.truth import leaderboard, report
    from faithcam.truth.cases import cases
    from faithcam.truth.entries import select_entries
    from faithcam.truth.figure import heatmap

    chosen = cases(_names(args.cases), full=not args.quick)
    entries = select_entries(_names(args.methods), args.quick)
    images = args.images or (QUICK_IMAGES if args.quick else FULL_IMAGES)
    if images < 2:
        raise FaithcamValueError(f"--images: need at least 2 (for intervals), got {images}")
    if args.update_doc:
        report.check_doc(Path(args.update_doc), args.doc_section)
    if args.update_readme:
        report.check_doc(Path(args.update_readme), "readme", "--update-readme")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(chosen) * (len(entries) + 1), disable=args.quiet, unit="step")

    def progress(text: str, steps: int = 1) -> None:
        bar.set_description(text[:60])
        bar.update(steps)

    truths, rows = leaderboard.run(chosen, entries, images, args.quick, progress,
                                   store=out / "cases", resume=args.resume)  # fmt: skip
    bar.close()
    seconds = leaderboard.case_seconds(truths, rows)
    summaries = leaderboard.summarise(rows)
    kind = "quick" if args.quick else "full" if not (args.cases or args.methods) else "selected"
    title = (f"{kind} run, {len(chosen)} cases × {len(entries)} "
             f"methods, {images} images per case, {seconds:.0f} s wall")  # fmt: skip
    report.write_csvs(out, rows, summaries)
    tables = report.markdown(truths, summaries, title)
    (out / "leaderboard.md").write_text(tables, encoding="utf-8")
    if args.update_doc:
        report.update_doc(Path(args.update_doc), tables, args.doc_section)
    if args.update_readme:
        report.update_doc(Path(args.update_readme), report.readme_table(summaries, title), "readme")
    page = Report(f"faithcam truth: {title}")
    page.paragraph(
        "Each map (ReLU of the raw map at the layer's resolution) is scored against the "
        "Shapley values of the layer's locations (φ; ranks, top-k and distance against its "
        "positive part, sign agreement against its sign). See docs/truth.md."
    )
    page.image(heatmap(summaries, out / "rank-correlation.png"), "rank correlation heat map")
    for caption, (header, table_rows) in report.sections(truths, summaries):
        page.heading(caption)
        page.table(header, table_rows)
    page.write(out / "index.html")
    if not args.quiet:
        print(report.text_table(summaries))
        print(f"{title}; wrote {out}/index.html, leaderboard.csv, scores.csv, leaderboard.md")
    return 0
