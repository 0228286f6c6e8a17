"""`faithcam truth` end to end on a small selection, and its argument errors."""

from __future__ import annotations

import csv
import json

import pytest

from faithcam.cli import main
from faithcam.truth.report import DOC_END, DOC_START


def test_truth_command_writes_the_leaderboard(tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text(f"before\n{DOC_START}\nold\n{DOC_END}\nafter\n")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- truth:readme:start -->\nold\n<!-- truth:readme:end -->\nend\n")
    code = main(["truth", "--quick", "--cases", "masked-head,and", "--methods",
                 "gradcam,hirescam,cam,fullgrad", "--images", "2", "--out", str(tmp_path / "out"),
                 "--update-doc", str(doc), "--update-readme", str(readme)])  # fmt: skip
    assert code == 0
    out = tmp_path / "out"
    with open(out / "leaderboard.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {"case", "method", "rank", "rank_low", "rank_high", "mean_rank", "spearman", "topk",
            "sign", "distance"} <= set(rows[0])  # fmt: skip
    by_key = {(r["case"], r["method"]): r for r in rows}
    assert float(by_key[("masked-head", "hirescam")]["spearman"]) == pytest.approx(1.0)
    assert float(by_key[("masked-head", "hirescam")]["rank"]) == 1.0  # the only perfect map
    assert by_key[("and", "cam")]["status"].startswith("n/a")  # no linear classifier
    assert by_key[("masked-head", "fullgrad")]["status"] == "ok"  # pixel maps pooled to 4 x 4
    with open(out / "scores.csv") as handle:
        ok = [r for r in csv.DictReader(handle) if r["status"] == "ok"]
    assert len(ok) == 2 * 7  # 2 images x the 7 (method, case) pairs that ran
    page = (out / "index.html").read_text()
    assert "<table>" in page and "data:image/png;base64," in page
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "| hirescam |" in text
    compact = readme.read_text().splitlines()
    assert compact[0] == "# x" and compact[-1] == "end" and "old" not in compact
    assert compact[3] == "| # | method | mean rank [95 %] ↓ | mean Spearman ρ ↑ |"
    assert compact[5].startswith("| 1 | hirescam | 1.0 [")  # the only perfect map on both cases
    printed = capsys.readouterr().out
    assert "hirescam" in printed and "mean rank" in printed


@pytest.mark.parametrize(
    "args, words",
    [
        (["--cases", "nope"], "cases: unknown 'nope'"),
        (["--methods", "nope"], "methods: unknown 'nope'"),
        (["--images", "1"], "--images"),
        (["--update-doc", "missing.md"], "--update-doc"),
        (["--update-readme", "missing.md"], "--update-readme: no file missing.md"),
    ],
)
def test_truth_command_errors_name_the_argument(tmp_path, capsys, args, words):
    assert main(["truth", "--out", str(tmp_path), "--quiet", *args]) == 2
    assert words in capsys.readouterr().err


def test_resume_reuses_finished_cases(tmp_path):
    def args(images: str) -> list[str]:
        return ["truth", "--quick", "--cases", "masked-head", "--methods", "hirescam",
                "--images", images, "--out", str(tmp_path), "--quiet", "--resume"]  # fmt: skip

    assert main(args("2")) == 0
    saved = tmp_path / "cases" / "masked-head.json"
    first = (tmp_path / "leaderboard.csv").read_text()
    stamp = saved.stat().st_mtime_ns
    assert main(args("2")) == 0
    assert saved.stat().st_mtime_ns == stamp  # reused, not recomputed
    assert (tmp_path / "leaderboard.csv").read_text() == first
    assert main(args("3")) == 0
    assert saved.stat().st_mtime_ns != stamp  # other settings: computed again


def test_a_case_that_fails_is_reported_not_fatal():
    from faithcam.truth.cases import Case
    from faithcam.truth.entries import select_entries
    from faithcam.truth.leaderboard import run
    from faithcam.truth.report import case_table

    def broken(n, quick):
        raise RuntimeError("no weights here")

    case = Case("broken", "test", "nothing", broken)
    truths, rows = run([case], select_entries(["gradcam"], False), 2, True)
    assert rows == [] and truths[0].status.startswith("failed: RuntimeError: no weights here")
    assert "failed" in case_table(truths)[1][0][4]


def test_update_doc_fills_only_its_own_section(tmp_path):
    from faithcam.errors import FaithcamValueError
    from faithcam.truth.report import doc_markers, update_doc

    quick, seeds = doc_markers("quick"), doc_markers("seeds")
    doc = tmp_path / "doc.md"
    doc.write_text(f"a\n{quick[0]}\nold quick\n{quick[1]}\nb\n{seeds[0]}\nold seeds\n{seeds[1]}\n")
    update_doc(doc, "new quick\n", "quick")
    assert doc.read_text() == (
        f"a\n{quick[0]}\nnew quick\n{quick[1]}\nb\n{seeds[0]}\nold seeds\n{seeds[1]}\n"
    )
    with pytest.raises(FaithcamValueError, match="truth:full:start"):
        update_doc(doc, "x", "full")


class _Stop(Exception):
    pass


def _stop_at_xgradcam(message, *args):
    if message.endswith("xgradcam"):
        raise _Stop


def _stopped_run(tmp_path, monkeypatch):
    """(leaderboard, case, entries, explained): a run of three methods on masked-head stopped
    before its third (xgradcam), explain calls recorded in ``explained``."""
    import faithcam.truth.leaderboard as leaderboard
    from faithcam.truth.cases import cases
    from faithcam.truth.entries import select_entries

    case = cases(["masked-head"])
    entries = select_entries(["gradcam", "hirescam", "xgradcam"], True)
    explained: list[str] = []
    real_explain = leaderboard.explain

    def counting_explain(model, images, method, *args, **kwargs):
        explained.append(method)
        return real_explain(model, images, method, *args, **kwargs)

    monkeypatch.setattr(leaderboard, "explain", counting_explain)
    with pytest.raises(_Stop):
        leaderboard.run(case, entries, 2, True, _stop_at_xgradcam, tmp_path, resume=True)
    return leaderboard, case, entries, explained


def test_an_interrupted_case_resumes_from_its_finished_methods(tmp_path, monkeypatch):
    """A run stopped inside a case keeps the rows of the methods it finished: resumed, it
    explains only the others, and its rows are those of a run that was never stopped."""
    leaderboard, case, entries, explained = _stopped_run(tmp_path, monkeypatch)
    assert explained == ["gradcam", "hirescam"]
    assert not (tmp_path / "masked-head.json").exists()
    explained.clear()
    _, resumed = leaderboard.run(case, entries, 2, True, None, tmp_path, resume=True)
    assert explained == ["xgradcam"]
    assert not (tmp_path / "masked-head.partial.json").exists()
    _, fresh = leaderboard.run(case, entries, 2, True)
    assert [(r.method, r.image, r.scores) for r in resumed] == [
        (r.method, r.image, r.scores) for r in fresh
    ]


@pytest.mark.parametrize(("images", "resume"), [(3, True), (2, False)])
def test_a_checkpoint_serves_only_a_resume_with_the_same_settings(
    tmp_path, monkeypatch, images, resume
):
    """The checkpoint of a 2-image run is not used by a run on 3 images, nor by a fresh run
    (no ``resume``): both explain every method again."""
    leaderboard, case, entries, explained = _stopped_run(tmp_path, monkeypatch)
    explained.clear()
    _, rows = leaderboard.run(case, entries, images, True, None, tmp_path, resume=resume)
    assert explained == ["gradcam", "hirescam", "xgradcam"]
    assert {r.image for r in rows} == set(range(images))


KEY = {"images": 2, "quick": True, "methods": ["gradcam"]}  # the run's key below
DAMAGED = ["{not json", "[1, 2]", json.dumps({"key": KEY, "rows": 3}),
           json.dumps({"key": KEY, "rows": [{"method": "gradcam"}]})]  # fmt: skip


@pytest.mark.parametrize("damaged", DAMAGED)
def test_a_damaged_checkpoint_is_ignored_and_the_case_runs_again(tmp_path, damaged):
    """A checkpoint that is not one the run wrote (cut, edited, another program's) gives no
    traceback: the case's methods run again and the result is a fresh run's."""
    from faithcam.truth.cases import cases
    from faithcam.truth.entries import select_entries
    from faithcam.truth.leaderboard import run

    case, entries = cases(["masked-head"]), select_entries(["gradcam"], True)
    (tmp_path / "masked-head.partial.json").write_text(damaged, encoding="utf-8")
    _, resumed = run(case, entries, 2, True, None, tmp_path, resume=True)
    _, fresh = run(case, entries, 2, True)
    assert [(r.image, r.scores) for r in resumed] == [(r.image, r.scores) for r in fresh]
