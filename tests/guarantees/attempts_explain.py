"""Attempts on ``faithcam.explain``: automatic layers that pick a window partition, a head or the
output; maps that show nothing at full contrast; careless arguments (one target for a batch,
non-finite weights, ``relu="no"``, zero sizes, a billion samples, a lazy model, a model whose
``train()`` has side effects); targets that match nothing; class-agnostic methods on dense
models."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from faithcam import CamResult
from tests.guarantees.attempts import (
    HANDLED,
    WRONG,
    Verdict,
    attempt,
    expect_cli_refusal,
    expect_refusal,
)
from tests.guarantees.attempts_outputs import save_image, tiny_model_args
from tests.helpers import GapLinearNet, InnerChannelMismatch
from tests.layer_cases import CASES, LayerCase, plain_fcn, same_map

LAYERS = "silently wrong: automatic layers"
MAPS = "silently wrong: meaningless maps"
INPUT = "bad input accepted"


def _gap(seed: int = 0) -> GapLinearNet:
    torch.manual_seed(seed)
    return GapLinearNet().eval()


def _images(n: int = 4, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def _auto_layer(case_name: str, target: object = None) -> Verdict:
    import faithcam

    case = next(c for c in CASES if c.name == case_name)
    model = case.build()
    result = faithcam.explain(model, torch.rand(1, 3, case.size, case.size), "gradcam", target)
    return _judge_layer(model, case, result)


def _judge_layer(model: nn.Module, case: LayerCase, result: CamResult) -> Verdict:
    if not same_map(model, result.layer, case.community, case.size):
        return WRONG, f"picked {result.layer!r} (raw map {tuple(result.raw_maps.shape)})"
    return HANDLED, f"picked {result.layer!r}"


@attempt(LAYERS)
def auto_layer_of_maxvit_t(folder: Path) -> Verdict:
    return _auto_layer("maxvit_t")


@attempt(LAYERS)
def auto_layer_of_a_segmentation_models_pytorch_unet(folder: Path) -> Verdict:
    import faithcam

    return _auto_layer("smp Unet (resnet18), rebuilt", faithcam.SegmentationTarget(1))


@attempt(LAYERS, slow=True)
def auto_layer_of_deeplabv3_resnet50(folder: Path) -> Verdict:
    import faithcam

    return _auto_layer("deeplabv3_resnet50", faithcam.SegmentationTarget(1))


@attempt(LAYERS, timeout=300, slow=True)
def auto_layer_of_mask_rcnn(folder: Path) -> Verdict:
    import faithcam

    case = next(c for c in CASES if c.name == "maskrcnn_resnet50_fpn")
    model = case.build()
    model.roi_heads.score_thresh = 0.0  # random weights: keep every detection
    image = torch.rand(1, 3, case.size, case.size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        label = int(model(image)[0]["labels"][0])  # a class the model detects
    whole = faithcam.DetectionTarget([[0, 0, case.size, case.size]], [label], iou_threshold=0.0)
    return _judge_layer(model, case, faithcam.explain(model, image, "gradcam", whole))


@attempt(LAYERS)
def auto_layer_of_squeezenet(folder: Path) -> Verdict:
    return _auto_layer("squeezenet1_1")


def _warned(action: Callable[[], object], *words: str) -> Verdict:
    """``action`` must succeed with a faithcam warning naming the image and ``words``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
    said = [str(w.message) for w in caught if type(w.message).__name__ == "FaithcamWarning"]
    hits = [text for text in said if all(word in text for word in words)]
    if not hits:
        return WRONG, f"no warning naming {words}" + (f" (said: {said[0][:100]})" if said else "")
    return HANDLED, hits[0][:200]


@attempt(LAYERS)
def auto_layer_that_is_the_models_output(folder: Path) -> Verdict:
    import faithcam

    return _warned(lambda: faithcam.explain(plain_fcn(), _images(1, 32), "gradcam",
                                            faithcam.SegmentationTarget(1)), "output")  # fmt: skip


class _NormedNet(nn.Module):
    """conv features -> per-position LayerNorm -> mean -> linear: A · dscore/dA = 0 at every
    position (LayerNorm is scale-invariant up to its epsilon, made negligible by large
    activations)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1)
        )
        self.norm, self.fc = nn.LayerNorm(16), nn.Linear(16, 5)
        with torch.no_grad():
            self.features[2].weight.mul_(100)
            self.features[2].bias.mul_(100)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(self.features(x).permute(0, 2, 3, 1)).mean((1, 2)))


@attempt(MAPS)
def hirescam_before_a_per_position_layernorm(folder: Path) -> Verdict:
    import faithcam

    model = _NormedNet().eval()
    return _warned(lambda: faithcam.explain(model, _images(2), "hirescam", 1, "features"),
                   "image", "noise")  # fmt: skip


@attempt(MAPS)
def vit_with_its_zero_initialised_head(folder: Path) -> Verdict:
    from torchvision.models.vision_transformer import VisionTransformer

    import faithcam

    torch.manual_seed(0)
    model = VisionTransformer(32, 8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=16).eval()
    return _warned(lambda: faithcam.explain(model, _images(1, 32), "gradcam", 3), "image 0",
                   "zero-initialised head")  # fmt: skip


class _TinySegmenter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.classifier = nn.Conv2d(8, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.backbone(x))


@attempt(MAPS)
def empty_segmentation_mask(folder: Path) -> Verdict:
    import faithcam

    mask = torch.zeros(16, 16, dtype=torch.bool)
    target = faithcam.SegmentationTarget(1, mask)
    return _warned(lambda: faithcam.explain(_TinySegmenter().eval(), _images(2), "gradcam",
                                            target), "images 0, 1", "mask is empty")  # fmt: skip


@attempt(MAPS)
def integrated_gradcam_whose_baseline_scores_higher(folder: Path) -> Verdict:
    import faithcam

    model = _gap()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.abs_()  # every activation and score grows with the pixels
    bright = faithcam.FixedBaseline(torch.ones(1, 3, 16, 16))
    images = _images(1) * 0.01  # nearly black: the white baseline scores higher
    return _warned(lambda: faithcam.explain(model, images, "integrated-gradcam", 1, steps=4,
                                            baseline=bright), "image 0", "baselines")  # fmt: skip


def _detector() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=3, min_size=64, max_size=64,
        box_score_thresh=0.0,
    ).eval()  # fmt: skip


@attempt("error message: targets")
def detection_target_that_matches_nothing(folder: Path) -> Verdict:
    import faithcam

    far_away = faithcam.DetectionTarget([[0.0, 0.0, 0.5, 0.5]], [2])  # a box no one detects
    return expect_refusal(
        lambda: faithcam.explain(_detector(), _images(1, 64), "gradcam", far_away),
        "matched no detection", "image 0",
    )  # fmt: skip


@attempt(INPUT)
def one_target_for_a_batch_of_four(folder: Path) -> Verdict:
    import faithcam

    return expect_refusal(lambda: faithcam.explain(_gap(), _images(4), "gradcam", [3]),
                          "targets", "1 class ids for 4 images")  # fmt: skip


def _non_finite(method: str, value: float) -> Verdict:
    import faithcam

    model = _gap()
    with torch.no_grad():
        model.features[0].weight[0, 0, 0, 0] = value
    return expect_refusal(
        lambda: faithcam.explain(model, _images(2), method, 1), "NaN or infinite", "image 0"
    )


for _method in ("eigencam", "eigengradcam", "kpcacam", "randomcam"):
    for _label, _value in (("nan", float("nan")), ("inf", float("inf"))):
        attempt(INPUT, name=f"{_label}_weights_with_{_method}")(
            lambda folder, method=_method, value=_value: _non_finite(method, value)
        )


@attempt(INPUT)
def relu_given_as_the_text_no(folder: Path) -> Verdict:
    import faithcam

    return expect_refusal(lambda: faithcam.explain(_gap(), _images(1), relu="no"), "relu")


def _cli_zero(folder: Path, flag: str) -> Verdict:
    image = save_image(folder / "images" / "im0.png", 0)
    args = ["explain", *tiny_model_args(folder), "--out", str(folder / "out"), flag, "0",
            str(image)]  # fmt: skip
    return expect_cli_refusal(args, flag, ">= 1")


@attempt(INPUT)
def cli_size_zero(folder: Path) -> Verdict:
    return _cli_zero(folder, "--size")


@attempt(INPUT)
def cli_top_k_zero(folder: Path) -> Verdict:
    return _cli_zero(folder, "--top-k")


class _SideEffects(GapLinearNet):
    """A model whose own ``train()`` changes another attribute (a temperature)."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        super().__init__()
        self.temperature = 1.0

    def train(self, mode: bool = True) -> _SideEffects:
        super().train(mode)
        self.temperature = 1.0 if mode else 2.0
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) / self.temperature


@attempt(INPUT)
def model_whose_train_changes_other_state(folder: Path) -> Verdict:
    import faithcam

    model = _SideEffects().train()
    faithcam.explain(model, _images(2), "gradcam", 1)
    if model.temperature != 1.0 or not model.training:
        return WRONG, f"left with temperature {model.temperature}, training={model.training}"
    return HANDLED, "the model's own state is as it was"


@attempt(INPUT)
def uninitialised_lazy_model(folder: Path) -> Verdict:
    import faithcam

    lazy = nn.Sequential(
        nn.LazyConv2d(4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LazyLinear(3)
    )
    return expect_refusal(lambda: faithcam.explain(lazy, _images(2), "gradcam", 1), "model",
                          "lazy")  # fmt: skip


def _endless(method: str, option: str) -> Verdict:
    import faithcam

    return expect_refusal(
        lambda: faithcam.explain(_gap(), _images(2), method, 1, **{option: 10**9}), option
    )


@attempt(INPUT, timeout=30)
def a_billion_samples_of_expected_gradcam(folder: Path) -> Verdict:
    return _endless("expected-gradcam", "samples")


@attempt(INPUT, timeout=30)
def a_billion_steps_of_integrated_gradcam(folder: Path) -> Verdict:
    return _endless("integrated-gradcam", "steps")


@attempt(INPUT, timeout=30)
def a_billion_samples_of_ss_cam(folder: Path) -> Verdict:
    return _endless("sscam", "samples")


@attempt(INPUT)
def eigencam_on_a_segmentation_model_without_target(folder: Path) -> Verdict:
    import faithcam

    result = faithcam.explain(_TinySegmenter().eval(), _images(2), "eigencam")
    if result.maps.shape != (2, 16, 16) or result.targets is not None:
        return WRONG, f"maps {tuple(result.maps.shape)}, targets {result.targets}"
    return HANDLED, "class-agnostic: maps without a class (scores NaN)"


@attempt(INPUT)
def two_targets_for_a_batch_of_four(folder: Path) -> Verdict:
    import faithcam

    return expect_refusal(lambda: faithcam.explain(_gap(), _images(4), "gradcam", [3, 1]),
                          "targets", "2 class ids for 4 images")  # fmt: skip


@attempt(INPUT)
def two_target_callables_for_a_batch_of_four(folder: Path) -> Verdict:
    import faithcam

    per_image = [lambda out: out[1], lambda out: out[2]]
    return expect_refusal(lambda: faithcam.explain(_gap(), _images(4), "gradcam", per_image),
                          "targets", "2 callables for 4 images")  # fmt: skip


@attempt(INPUT)
def cli_size_negative(folder: Path) -> Verdict:
    return _cli_value(folder, "--size", "-1")


@attempt(INPUT)
def cli_top_k_negative(folder: Path) -> Verdict:
    return _cli_value(folder, "--top-k", "-2")


def _cli_value(folder: Path, flag: str, value: str) -> Verdict:
    image = save_image(folder / "images" / "im0.png", 0)
    args = ["explain", *tiny_model_args(folder), "--out", str(folder / "out"), flag, value,
            str(image)]  # fmt: skip
    return expect_cli_refusal(args, flag, ">= 1")


CHANNELS = "error message: images"


@attempt(CHANNELS)
def grayscale_images_for_an_rgb_model(folder: Path) -> Verdict:
    import faithcam

    gray = _images(2)[:, :1]
    return expect_refusal(lambda: faithcam.explain(_gap(), gray, "gradcam", 1, layer="features"),
                          "images", "1 channel", "takes 3 channels")  # fmt: skip


@attempt(CHANNELS)
def grayscale_images_for_an_rgb_model_with_the_automatic_layer(folder: Path) -> Verdict:
    import faithcam

    gray = _images(2)[:, :1]
    return expect_refusal(lambda: faithcam.explain(_gap(), gray, "hirescam", 1),
                          "images", "1 channel", "takes 3 channels")  # fmt: skip


@attempt(CHANNELS)
def grayscale_images_for_an_rgb_model_in_deletion(folder: Path) -> Verdict:
    from faithcam.metrics import deletion

    gray, maps = _images(2)[:, :1], torch.rand(2, 16, 16)
    return expect_refusal(lambda: deletion(_gap(), gray, maps, 1, curve_steps=4),
                          "images", "1 channel", "takes 3 channels")  # fmt: skip


@attempt(CHANNELS)
def model_whose_inner_convolution_is_wrong(folder: Path) -> Verdict:
    import faithcam

    try:
        faithcam.explain(InnerChannelMismatch().eval(), _images(1), "gradcam", 1, layer="first")
    except RuntimeError as error:
        if "images" in str(error).split(":")[0]:
            return WRONG, "the model's own bug blamed on the images"
        return HANDLED, "torch's error about the model's inner tensor, unchanged"
    return WRONG, "accepted"


DENSE_TARGETS = "error message: targets"


def _metric_with_dense_target(name: str, kind: str) -> Verdict:
    """Metrics score dense targets on dense outputs; on a classifier's (N, classes) output the
    error names the target and the output it needs."""
    import faithcam
    from faithcam import metrics

    dense = {"segmentation": faithcam.SegmentationTarget(1),
             "detection": faithcam.DetectionTarget([[0, 0, 4, 4]], [1])}  # fmt: skip
    needs = {"segmentation": "(N, classes, H, W) outputs", "detection": "per-image dicts"}
    maps = torch.rand(2, 16, 16)
    return expect_refusal(
        lambda: getattr(metrics, name)(_gap(), _images(2), maps, dense[kind]), "targets",
        f"{kind} targets need", needs[kind],
    )  # fmt: skip


for _metric in ("deletion", "insertion", "average_drop", "increase_in_confidence"):
    for _kind in ("segmentation", "detection"):
        attempt(DENSE_TARGETS, name=f"{_metric}_given_a_{_kind}_target")(
            lambda folder, metric=_metric, kind=_kind: _metric_with_dense_target(metric, kind)
        )
