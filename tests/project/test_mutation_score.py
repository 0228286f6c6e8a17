"""scripts/mutation_score.py: the tier score of a mutation_direct.py record, counted by hand."""

from __future__ import annotations

import json
from pathlib import Path

from tests.project.test_lint_scripts import load_script


def test_a_direct_record_is_scored_per_tier_with_unfinished_runs_unchecked(tmp_path: Path, capsys):
    records = [
        ("faithcam.engine.capture.x__score_gradients__mutmut_31", 1),  # killed
        ("faithcam.engine.capture.x_capture__mutmut_2", 0),  # survived
        ("faithcam.engine.layers.x__auto_layer__mutmut_20", 33),  # no test reaches it
        ("faithcam.cams.sess.xǁSESSǁenhance__mutmut_42", "unfinished"),
        ("faithcam.cams.estimators.base.xǁEstimatorǁ_chunk__mutmut_34", 1),
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps({"name": n, "exit": e}) + "\n" for n, e in records))
    score = load_script("mutation_score")
    codes = score.recorded_codes(results)
    assert codes["engine/capture.py"] == {records[0][0]: 1, records[1][0]: 0}
    assert codes["cams/sess.py"] == {records[3][0]: None}
    assert codes["cams/estimators/base.py"] == {records[4][0]: 1}
    assert score.main(["--results", str(results), "--survivors"]) == 0
    lines = capsys.readouterr().out.splitlines()
    engine = next(line for line in lines if line.startswith("engine "))
    cams = next(line for line in lines if line.startswith("cams "))
    assert engine.split()[1:4] == ["1", "3", "33.3%"]  # 1 killed of 3 checked
    assert cams.split()[1:4] == ["1", "1", "100.0%"] and cams.split()[-1] == "1"  # 1 unchecked
    assert set(lines[-2:]) == {records[1][0], records[2][0]}
