"""`faithcam serve` through its HTTP API (FastAPI's TestClient, no browser): every bad input
gets a 4xx with a message naming the field and the server goes on; the numbers a job shows
are those of faithcam's public API on the same image (the energy in the box by hand)."""

from __future__ import annotations

import csv
import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")
from fastapi.testclient import TestClient
from PIL import Image

import faithcam
from faithcam.data import load_shapes_model
from faithcam.io.images import Preprocessing
from faithcam.metrics import deletion, insertion
from faithcam.serve import create_app, default_catalogue
from faithcam.serve.choices import SEED_METHODS, load_photo
from faithcam.serve.uploads import UploadLimits
from tests.guarantees.test_security import _crafted_pt2
from tests.helpers import GapLinearNet

SHAPES = "shapesbench-resnet-clean"
SHAPES_LAYER = "layer2"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(limits=UploadLimits(max_bytes=2**20))) as client:
        yield client


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(client: TestClient, data: bytes, name: str = "x.png"):
    return client.post(f"/api/images?name={name}", content=data)


def refused(response, status: int, *phrases: str) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for phrase in phrases:
        assert phrase in detail, detail
    return detail


def still_serving(client: TestClient) -> None:
    assert client.get("/api/catalogue").status_code == 200


def photo(client: TestClient, name: str = "shapes-clean") -> str:
    return client.post(f"/api/photos/{name}").json()["image"]


def finished(client: TestClient, job: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = client.get(f"/api/jobs/{job}").json()
        if snapshot["state"] != "running":
            return snapshot
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not finish in {timeout} s")


def job_body(image: str, **changes) -> dict:
    body = {"image": image, "model": SHAPES, "target": 0, "methods": ["gradcam"], "steps": 8}
    return {**body, **changes}


# ------------------------------------------------------------------ the page and its menus
def test_page_menus_and_colorbar(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "fetch(" in client.get("/static/app.js").text
    menu = client.get("/api/catalogue").json()
    assert [m["name"] for m in menu["methods"][: len(SEED_METHODS)]] == SEED_METHODS
    assert {m["name"] for m in menu["methods"]} == set(faithcam.METHODS)
    assert [m["name"] for m in menu["methods"] if m["slow"]] == [
        m["name"] for m in menu["methods"][-sum(m["slow"] for m in menu["methods"]) :]
    ]  # slow methods last
    assert menu["default_model"] == "mobilenet_v2-imagenet"
    assert {SHAPES, "mobilenet_v2-imagenet"} <= {m["name"] for m in menu["models"]}
    bar = np.asarray(Image.open(io.BytesIO(client.get("/api/colorbar.png").content)))
    assert bar.shape == (14, 256, 3) and not np.array_equal(bar[0, 0], bar[0, -1])


# ------------------------------------------------------------------ bad images
def test_non_image_empty_and_truncated_files_are_refused(client: TestClient) -> None:
    refused(upload(client, b"just some text, not a picture"), 400, "not an image file")
    refused(upload(client, b""), 400, "empty")
    whole = png(np.zeros((40, 40, 3), np.uint8) + np.arange(40, dtype=np.uint8)[:, None, None])
    refused(upload(client, whole[: len(whole) // 2]), 400, "truncated or corrupt")
    refused(upload(client, png(np.zeros((4, 30, 3), np.uint8))), 400, "too small")
    still_serving(client)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG of a few bytes whose header declares width x height RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_decompression_bombs_are_refused_from_the_header(client: TestClient) -> None:
    crafted = _png_header_only(30_000, 30_000)  # 900 megapixels declared in 80 bytes
    assert len(crafted) < 100
    refused(upload(client, crafted), 413, "900 megapixels", "decompression bomb")
    crafted = _png_header_only(9_000, 9_000)  # under PIL's own limit, over the server's
    refused(upload(client, crafted), 413, "9000 x 9000 pixels, 81 megapixels", "limit of 40")
    # a real, decodable one: 8000 x 6000 one-bit pixels compress to a few kilobytes
    real = io.BytesIO()
    Image.new("1", (8000, 6000)).save(real, format="PNG")
    assert len(real.getvalue()) < 50_000
    refused(upload(client, real.getvalue()), 413, "48 megapixels", "limit of 40")
    still_serving(client)


def test_a_file_over_the_byte_limit_is_refused(client: TestClient) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    data = png(noise)
    assert len(data) > 2**20
    refused(upload(client, data), 413, "larger than the limit of 1 MB")
    still_serving(client)


def _crop_pixels(client: TestClient, image: str, model: str = SHAPES) -> np.ndarray:
    response = client.get(f"/api/images/{image}/crop.png?model={model}")
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_grayscale_and_rgba_images_are_converted_with_a_note(client: TestClient) -> None:
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    grey = upload(client, png(ramp, "L")).json()
    assert any("grayscale" in note for note in grey["notes"]), grey
    pixels = _crop_pixels(client, grey["image"])
    assert np.array_equal(pixels[..., 0], pixels[..., 1])
    assert np.array_equal(pixels[..., 0], pixels[..., 2])
    assert abs(int(pixels[:, 0, 0].mean()) - 0) <= 4 and pixels[:, -1, 0].mean() > 230
    red = np.zeros((64, 64, 4), np.uint8)
    red[..., 0] = 255
    red[:, 32:, 3] = 255  # left half fully transparent, right half opaque red
    rgba = upload(client, png(red, "RGBA")).json()
    assert any("composited over white" in note for note in rgba["notes"]), rgba
    pixels = _crop_pixels(client, rgba["image"])
    assert (pixels[:, :28] == 255).all()  # transparent: white
    assert (pixels[:, 36:] == [255, 0, 0]).all()  # opaque: red


# ------------------------------------------------------------------ bad requests
def test_wrong_layer_names_are_refused_before_the_job(client: TestClient) -> None:
    image = photo(client)
    detail = refused(client.post("/api/jobs", json=job_body(image, layer="layer9")), 400, "layer9")
    assert "layer" in detail
    refused(client.post("/api/jobs", json=job_body(image, layer="fc")), 400, "'fc'", "2-D")
    ok = client.post("/api/jobs", json=job_body(image, layer="layer1"))
    assert ok.status_code == 200 and ok.json()["layer"] == "layer1"
    assert finished(client, ok.json()["job"])["methods"][0]["state"] == "done"


def test_bad_fields_name_themselves(client: TestClient) -> None:
    image = photo(client)
    cases = [
        (job_body(image, model="resnet999"), 400, "model: unknown model 'resnet999'"),
        (job_body(image, methods=["gradcam", "nosuchcam"]), 400, "unknown method 'nosuchcam'"),
        (job_body(image, methods=[]), 400, "at least one method"),
        (job_body(image, target=5), 400, "target: class 5 is out of range", "5 classes"),
        (job_body(image, target=-1), 400, "target: class -1"),
        (job_body(image, box=[10, 10, 5, 20]), 400, "box:", "64 x 64"),
        (job_body(image, box=[0, 0, 65, 10]), 400, "box:"),
        (job_body(image, steps=1), 400, "steps:"),
        (job_body("0" * 32), 404, "image", "not on the server"),
        ({"image": image, "model": SHAPES}, 422, "target", "methods"),
    ]
    for body, status, *phrases in cases:
        refused(client.post("/api/jobs", json=body), status, *phrases)
    refused(client.get("/api/jobs/abc"), 404, "job")
    refused(client.post("/api/photos/lena"), 404, "no bundled photo 'lena'")
    still_serving(client)


def test_model_files_that_would_run_code_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    crafted = _crafted_pt2(tmp_path, marker)  # also writes a plain plain.pt2 beside it
    torch.manual_seed(0)
    pickled = tmp_path / "module.pt"
    torch.save(GapLinearNet().eval(), pickled)
    for path, phrase in ((crafted, "runs code when loaded"), (pickled, "runs arbitrary code")):
        app = create_app(default_catalogue(str(path)))
        with TestClient(app) as client:
            assert client.get("/api/catalogue").json()["default_model"] == str(path)
            image = photo(client)
            body = {"image": image, "model": str(path)}
            refused(
                client.post("/api/predict", json=body), 400, str(path), phrase, "--trust-pickle"
            )
            refused(client.post("/api/jobs", json={**job_body(image), **body}), 400, phrase)
            assert client.post("/api/predict", json={"image": image, "model": SHAPES}).is_success
    assert not marker.exists(), "the archive's code ran"
    plain = str(tmp_path / "plain.pt2")  # exported for 16 x 16 inputs
    with TestClient(create_app(default_catalogue(plain))) as client:
        body = {"image": photo(client), "model": plain}
        refused(client.post("/api/predict", json=body), 400, "(1, 3, 224, 224) input", "--size")
    with TestClient(create_app(default_catalogue(plain, size=16))) as client:
        answer = client.post("/api/predict", json={"image": photo(client), "model": plain})
        assert answer.status_code == 200, answer.text
        assert answer.json()["classes"] == 5 and answer.json()["class_names"] is None


def test_an_unexpected_error_is_a_500_and_the_server_goes_on(monkeypatch) -> None:
    from faithcam.serve import render

    def broken(crop):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(render, "crop_png", broken)
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        image = photo(client)
        refused(client.get(f"/api/images/{image}/crop.png?model={SHAPES}"), 500, "drawing failed")
        still_serving(client)


# ------------------------------------------------------------------ results
def _direct_inputs(name: str = "shapes-clean") -> torch.Tensor:
    preprocessing = Preprocessing(64, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    return preprocessing.normalise(preprocessing.crop(load_photo(name))[None])


def test_job_results_equal_the_library_and_the_hand_formula(client: TestClient) -> None:
    image, target, box = photo(client), 3, [8, 12, 40, 44]
    methods = ["gradcam", "integrated-gradcam"]
    body = job_body(image, target=target, methods=methods, box=box, steps=10)
    snapshot = finished(client, client.post("/api/jobs", json=body).json()["job"])
    job = client.post("/api/jobs", json=body).json()["job"]  # the same job again: same numbers
    again = finished(client, job)
    assert [m["deletion"] for m in again["methods"]] == [m["deletion"] for m in snapshot["methods"]]
    model = load_shapes_model("resnet", "clean").model
    inputs = _direct_inputs()
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/jobs/{job}/numbers.csv").text)))
    assert [r["method"] for r in rows] == methods
    for shown, row in zip(again["methods"], rows, strict=True):
        method = shown["method"]
        options = {"steps": 16} if method == "integrated-gradcam" else {}
        direct = faithcam.explain(
            model, inputs, method, targets=target, layer=SHAPES_LAYER, seed=0, **options
        ).maps
        served = np.load(io.BytesIO(client.get(f"/api/jobs/{job}/maps/{method}.npy").content))
        np.testing.assert_allclose(served, direct[0].numpy(), atol=1e-6)
        expected_deletion = deletion(model, inputs, direct, [target], steps=10).values[0]
        expected_insertion = insertion(model, inputs, direct, [target], steps=10).values[0]
        assert shown["deletion"] == pytest.approx(float(expected_deletion), abs=1e-6)
        assert shown["insertion"] == pytest.approx(float(expected_insertion), abs=1e-6)
        x0, y0, x1, y1 = box  # energy in the box by hand: mass inside / total mass
        by_hand = served[y0:y1, x0:x1].sum(dtype=np.float64) / served.sum(dtype=np.float64)
        assert shown["energy"] == pytest.approx(by_hand, abs=1e-6)
        assert float(row["deletion_auc"]) == pytest.approx(shown["deletion"], abs=1e-12)
        assert float(row["energy_in_box"]) == pytest.approx(by_hand, abs=1e-6)
        assert row["box"] == "8 12 40 44" and row["target"] == "3" and row["layer"] == SHAPES_LAYER
        picture = client.get(f"/api/jobs/{job}/maps/{method}.png")
        assert (
            'filename="shapes-clean-shapesbench-resnet-clean-'
            in picture.headers["content-disposition"]
        )
        overlay = np.asarray(Image.open(io.BytesIO(picture.content)))
        assert overlay.shape == (64, 64, 3)
        assert not np.array_equal(overlay, _crop_pixels(client, image))


def test_a_box_drawn_later_updates_the_energy_only(client: TestClient) -> None:
    image = photo(client)
    job = client.post("/api/jobs", json=job_body(image, methods=["hirescam"])).json()["job"]
    before = finished(client, job)["methods"][0]
    assert before["energy"] is None
    whole = client.post(f"/api/jobs/{job}/box", json={"box": [0, 0, 64, 64]}).json()
    assert whole["methods"][0]["energy"] == pytest.approx(1.0)
    assert whole["methods"][0]["deletion"] == before["deletion"]
    refused(client.post(f"/api/jobs/{job}/box", json={"box": [0, 0, 0, 5]}), 400, "box:")
    cleared = client.post(f"/api/jobs/{job}/box", json={"box": None}).json()
    assert cleared["methods"][0]["energy"] is None and cleared["box"] is None


def test_a_failing_method_fails_on_its_own_card(client: TestClient) -> None:
    image = photo(client)
    body = job_body(image, model="shapesbench-vgg-clean", methods=["cam", "hirescam"])
    cam, hirescam = finished(client, client.post("/api/jobs", json=body).json()["job"])["methods"]
    assert cam["state"] == "failed" and "GAP + linear head" in cam["error"]
    assert hirescam["state"] == "done" and hirescam["deletion"] is not None
    job = client.post("/api/jobs", json=body).json()["job"]
    refused(client.get(f"/api/jobs/{job}/maps/cam.png"), 404, "cam")


# ------------------------------------------------------------------ isolation and bounds
def test_two_tabs_do_not_interfere(client: TestClient) -> None:
    """Two jobs on the same model, different images and classes, running at once on the
    two workers: each one's maps are those of its own image and class."""
    model = load_shapes_model("resnet", "clean").model
    tabs = [("shapes-clean", 1), ("shapes-spurious", 4)]
    methods = ["integrated-gradcam", "hirescam"]
    jobs = [
        client.post(
            "/api/jobs", json=job_body(photo(client, name), target=t, methods=methods)
        ).json()["job"]
        for name, t in tabs
    ]
    for job, (name, target) in zip(jobs, tabs, strict=True):
        assert finished(client, job)["target"] == target
        inputs = _direct_inputs(name)
        for method in methods:
            options = {"steps": 16} if method == "integrated-gradcam" else {}
            direct = faithcam.explain(
                model, inputs, method, targets=target, layer=SHAPES_LAYER, seed=0, **options
            ).maps[0]
            served = np.load(io.BytesIO(client.get(f"/api/jobs/{job}/maps/{method}.npy").content))
            np.testing.assert_allclose(served, direct.numpy(), atol=1e-6)


def test_cancelled_jobs_stop_and_old_jobs_are_dropped() -> None:
    with TestClient(create_app(jobs_kept=2, workers=1)) as client:
        image = photo(client)
        methods = ["gradcam", "hirescam", "xgradcam", "layercam", "gradcam++", "eigencam"]
        first = client.post("/api/jobs", json=job_body(image, methods=methods)).json()["job"]
        assert client.delete(f"/api/jobs/{first}").json() == {"cancelled": True}
        snapshot = finished(client, first)
        assert snapshot["state"] in ("cancelled", "finished")
        assert any(m["state"] == "cancelled" for m in snapshot["methods"]), snapshot
        for _ in range(2):
            client.post("/api/jobs", json=job_body(image))
        refused(client.get(f"/api/jobs/{first}"), 404, "keeps the last 2")
        still_serving(client)
