"""No code from model files without --trust-pickle; no writes through links planted in --out."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faithcam.cli import main
from faithcam.io.model_sources import ModelError, load_model
from tests.helpers import GapLinearNet


class _Payload:
    """Unpickling this runs ``eval``: it writes a marker file and returns a real Parameter."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        code = (
            f"(__import__('pathlib').Path({str(self.marker)!r}).write_text('ran'), "
            "__import__('torch').nn.Parameter(__import__('torch').zeros(5)))[1]"
        )
        return (eval, (code,))


def _crafted_pt2(folder: Path, marker: Path) -> Path:
    """A real torch.export archive whose ``fc.bias`` is a pickle (``use_pickle: true``)."""
    torch.manual_seed(0)
    program = torch.export.export(GapLinearNet().eval(), (torch.rand(1, 3, 16, 16),))
    plain = folder / "plain.pt2"
    torch.export.save(program, plain)
    crafted = folder / "crafted.pt2"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(crafted, "w") as target:
        config_name = next(n for n in source.namelist() if n.endswith("_weights_config.json"))
        config = json.loads(source.read(config_name))
        entry = config["config"]["fc.bias"]
        entry["use_pickle"] = True
        bias_file = config_name.rsplit("/", 1)[0] + "/" + entry["path_name"]
        for info in source.infolist():
            data = source.read(info)
            if info.filename == config_name:
                data = json.dumps(config).encode()
            elif info.filename == bias_file:
                buffer = __import__("io").BytesIO()
                torch.save(_Payload(marker), buffer)
                data = buffer.getvalue()
            target.writestr(info, data)
    return crafted


def test_pt2_with_pickled_weights_is_refused_without_trust(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    crafted = _crafted_pt2(tmp_path, marker)
    assert load_model(str(tmp_path / "plain.pt2")).model is not None  # a plain archive loads
    with pytest.raises(ModelError, match=r"fc\.bias .*pickled payload.*--trust-pickle"):
        load_model(str(crafted))
    assert not marker.exists(), "the archive's code ran"
    code = main(["explain", "--model", str(crafted), "--out", str(tmp_path / "o"), str(crafted)])
    assert code == 2 and not marker.exists()
    # the file is a working exploit: trusting it runs its code (what --trust-pickle allows)
    load_model(str(crafted), trust_pickle=True)
    assert marker.read_text() == "ran"


def test_pt2_with_evaluated_shape_expression_is_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=1, max=8)
    program = torch.export.export(
        GapLinearNet().eval(), (torch.rand(2, 3, 16, 16),), dynamic_shapes=({0: batch},)
    )
    plain = tmp_path / "dynamic.pt2"
    torch.export.save(program, plain)
    assert load_model(str(plain)).model is not None  # plain symbolic shapes load
    crafted = tmp_path / "expr.pt2"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(crafted, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("models/model.json"):
                evil = "__import__('os').getpid() + s0"
                text = data.decode()
                start = text.index('"expr_str": "') + len('"expr_str": "')
                end = text.index('"', start)
                data = (text[:start] + evil + text[end:]).encode()
            target.writestr(info, data)
    with pytest.raises(ModelError, match="shape expression"):
        load_model(str(crafted))


def test_garbage_pt2_gives_one_clean_line(tmp_path: Path, capfd) -> None:
    garbage = tmp_path / "garbage.pt2"
    garbage.write_bytes(b"not an archive at all")
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    assert main(["explain", "--model", str(garbage), "--out", str(tmp_path / "o"), str(image)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a torch.export archive" in err[0], err
    # with --trust-pickle torch reads it, and its logged traceback stays hidden
    args = ["explain", "--model", str(garbage), "--trust-pickle", "--out", str(tmp_path / "o")]
    assert main([*args, str(image)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err


def test_links_planted_in_out_are_not_followed(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "w.pt"
    torch.save(GapLinearNet().state_dict(), weights)
    image = tmp_path / "x.png"
    Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(image)
    out = tmp_path / "out"
    out.mkdir()
    victims = {}
    for name in (".faithcam-write-test", "x.gradcam.png", "x.gradcam.npy", "summary.json"):
        victim = tmp_path / f"victim-{name}"
        victim.write_text("precious")
        os.symlink(victim, out / name)
        victims[name] = victim
    code = main(
        [
            "explain",
            "--model",
            "tests.io.test_model_sources:tiny_net",
            "--weights",
            str(weights),
            "--size",
            "16",
            "--quiet",
            "--out",
            str(out),
            str(image),
        ]
    )
    assert code == 0
    for name, victim in victims.items():
        assert victim.read_text() == "precious", f"{name} was written through its link"
    assert not (out / "summary.json").is_symlink()
    assert json.loads((out / "summary.json").read_text())["images"][0]["image"] == str(image)


def test_a_store_link_planted_in_out_is_refused(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "w.pt"
    torch.save(GapLinearNet().state_dict(), weights)
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(folder / "x.png")
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.db"
    victim.write_text("precious")
    os.symlink(victim, out / "results.sqlite")
    args = ["--model", "tests.io.test_model_sources:tiny_net", "--weights", str(weights)]
    code = main(["evaluate", *args, "--size", "16", "--quiet", "--out", str(out), str(folder)])
    assert code == 2 and "a symbolic link" in capsys.readouterr().err
    assert victim.read_text() == "precious"
