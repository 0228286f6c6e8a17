"""Models beyond CNN classifiers (issue 14): token and channels-last layouts, automatic layers of
transformers, segmentation and detection models, ``"name:input"`` layers, dense-task and
peer-compatible targets, half / bfloat16 / compiled / checkpointed models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

import faithcam
from faithcam.engine.layers import resolve_layer
from tests.helpers import GapLinearNet, seeded_images, seeded_torchvision
from tests.transformer_models import deit_like, small_swin, small_vit, token_transform

X64 = seeded_images(2, 64)


# ----------------------------------------------------------------------------- layouts
def test_vit_automatic_layer_is_the_last_blocks_first_norm() -> None:
    model = small_vit()
    layer = resolve_layer(model, None, X64)
    assert layer.name == "encoder.layers.encoder_layer_1.ln_1"  # never conv_proj
    result = faithcam.explain(model, X64, targets=1)
    assert tuple(result.raw_maps.shape) == (2, 4, 4) and result.raw_maps.abs().max() > 0


def test_vit_block_output_is_read_as_tokens_with_a_class_token() -> None:
    """A transformer block's (B, 17, 32) output = class token + 4 x 4 grid, as the peer's
    vit_reshape_transform; gradients are reshaped the same way (HiResCAM's A ⊙ G)."""
    model = small_vit()
    layer = "encoder.layers.encoder_layer_0"
    auto = faithcam.explain(model, X64, "hirescam", 2, layer)
    given = faithcam.explain(
        model, X64, "hirescam", 2, layer, reshape_transform=token_transform(1, 4, 4)
    )
    torch.testing.assert_close(auto.raw_maps, given.raw_maps)


@pytest.mark.parametrize("extra", [2, 5])
def test_distillation_and_register_tokens(extra: int) -> None:
    model = deit_like(extra)
    auto = faithcam.explain(model, X64, "gradcam", 3)
    given = faithcam.explain(
        model, X64, "gradcam", 3, auto.layer, reshape_transform=token_transform(extra, 4, 4)
    )
    torch.testing.assert_close(auto.raw_maps, given.raw_maps)


@pytest.mark.parametrize("layer", ["features.7", "norm", "features.7.1.norm1"])
def test_swin_channels_last_maps(layer: str) -> None:
    """Swin's (B, h, w, C) outputs are permuted, never read as a (w, C) "map"."""
    model = small_swin()
    images = seeded_images(1, 128)
    result = faithcam.explain(model, images, "gradcam", 1, layer)
    given = faithcam.explain(
        model, images, "gradcam", 1, layer, reshape_transform=lambda t: t.permute(0, 3, 1, 2)
    )
    assert tuple(result.raw_maps.shape) == (1, 4, 4)
    torch.testing.assert_close(result.raw_maps, given.raw_maps)
    assert resolve_layer(model, None, images).name == "features.7.1.norm1"


class LinearPatches(nn.Module):
    """Tokens from a linear patch embedding (no hint of the patch size): (B, 17, 32) is either
    1 extra + 4 x 4 or 8 extra + 3 x 3 tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3 * 16 * 16, 32)
        self.cls = nn.Parameter(torch.randn(1, 1, 32))
        self.mix = nn.Sequential(nn.GELU())
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        patches = nn.functional.unfold(x, 16, stride=16).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), self.embed(patches)], 1)
        return self.head(self.mix(tokens).mean(1))


def test_ambiguous_token_layout_is_an_error_and_reshape_transform_fixes_it() -> None:
    model = LinearPatches().eval()
    with pytest.raises(faithcam.LayerError, match=r"ambiguous.*reshape_transform"):
        faithcam.explain(model, X64, "gradcam", 0, "mix")
    result = faithcam.explain(
        model, X64, "gradcam", 0, "mix", reshape_transform=token_transform(1, 4, 4)
    )
    assert tuple(result.raw_maps.shape) == (2, 4, 4)
    with pytest.raises(faithcam.LayerError, match="reshape_transform: expected a callable"):
        faithcam.explain(model, X64, "gradcam", 0, "mix", reshape_transform="tokens")


def test_an_ambiguous_token_layout_lists_every_grid_it_could_be() -> None:
    """(2, 17, 32) on a 64 x 64 image, 0-8 extra tokens, grids within 1.25 of square: as
    (B, N, C) 17 = 1 + 4 x 4 = 8 + 3 x 3; as (B, C, N) 32 = 2 + 5 x 6 = 2 + 6 x 5 = 7 + 5 x 5
    (by hand: 17 − e and 32 − e for e = 0 … 8, kept where the grid's strides differ ≤ 1.25x)."""
    with pytest.raises(faithcam.LayerError) as refused:
        faithcam.explain(LinearPatches().eval(), X64, "gradcam", 0, "mix")
    message = " ".join(str(refused.value).split())
    readings = message.split("ambiguous (")[1].split("); pass reshape_transform")[0]
    assert readings.split("; ") == [
        "tokens (B,N,C): 1 extra + 4x4 grid",
        "tokens (B,N,C): 8 extra + 3x3 grid",
        "tokens (B,C,N): 2 extra + 5x6 grid",
        "tokens (B,C,N): 2 extra + 6x5 grid",
        "tokens (B,C,N): 7 extra + 5x5 grid",
    ]


def test_method_classes_take_reshape_transform() -> None:
    model = small_vit()
    layer = "encoder.layers.encoder_layer_1.ln_1"
    cam = faithcam.GradCAM(model, layer, reshape_transform=token_transform(1, 4, 4))
    torch.testing.assert_close(
        cam(X64, 1).raw_maps, faithcam.explain(model, X64, "gradcam", 1).raw_maps
    )


@pytest.mark.parametrize("method", ["integrated-gradcam", "expected-gradcam"])
@pytest.mark.parametrize("model_name", ["vit", "swin", "segmentation"])
def test_seed_methods_run_on_transformers_and_segmentation(method: str, model_name: str) -> None:
    images = seeded_images(1, 128 if model_name == "swin" else 64)
    if model_name == "segmentation":
        model, target = _fcn(), faithcam.SegmentationTarget(1)
    else:
        model, target = (small_vit() if model_name == "vit" else small_swin()), 1
    options = {"steps": 3} if method.startswith("integrated") else {"samples": 3, "seed": 0}
    result = faithcam.explain(model, images, method, target, **options)
    assert torch.isfinite(result.maps).all() and result.raw_maps.abs().max() > 0
    assert result.maps.shape == (1, *images.shape[-2:])


def test_gradient_free_methods_on_tokens() -> None:
    """Ablation-CAM writes its ablated copies back into the token layout (class token kept)."""
    model = small_vit()
    for method in ("scorecam", "ablationcam"):
        result = faithcam.explain(model, X64[:1], method, 1)
        assert tuple(result.raw_maps.shape) == (1, 4, 4) and torch.isfinite(result.maps).all()


# ----------------------------------------------------------------------------- layer specs
def test_input_of_a_module_as_the_layer() -> None:
    model = seeded_torchvision("resnet18")
    by_output = faithcam.explain(model, X64, "gradcam", 5, "layer4")
    by_input = faithcam.explain(model, X64, "gradcam", 5, "avgpool:input")
    torch.testing.assert_close(by_input.raw_maps, by_output.raw_maps)
    assert by_input.layer == "avgpool:input"
    vector = faithcam.explain(model, X64, "hirescam", 5, "fc:input")  # (B, 512) -> 1 x 1
    assert tuple(vector.raw_maps.shape) == (2, 1, 1)
    with torch.no_grad():  # HiResCAM at the logits' input: Σ_k w_ck x_k = z_c − b_c
        expected = model(X64)[:, 5] - model.fc.bias[5]
    torch.testing.assert_close(vector.raw_maps[:, 0, 0], expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- dense tasks
def _fcn() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, num_classes=3
    ).eval()


def test_segmentation_automatic_layer_and_errors() -> None:
    model = _fcn()
    assert resolve_layer(model, None, X64).name == "backbone.layer4"  # not classifier.4
    with pytest.raises(faithcam.TargetError, match=r"\(N, classes\)"):
        faithcam.explain(model, X64, "gradcam", 1)
    with pytest.raises(faithcam.TargetError, match="mask"):
        faithcam.explain(model, X64, "gradcam", faithcam.SegmentationTarget(1, np.ones((5, 5))))


def _detector() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.detection.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=3, min_size=64, max_size=64,
        box_score_thresh=0.0,
    ).eval()  # fmt: skip


def test_detection_layer_and_box_target_match_the_peer_target() -> None:
    pgc_targets = pytest.importorskip("pytorch_grad_cam.utils.model_targets")
    model = _detector()
    images = seeded_images(1, 64)
    assert resolve_layer(model, None, images).name == "backbone.body.layer4"
    with torch.no_grad():
        detections = model(images)[0]
    boxes, labels = detections["boxes"][:2].numpy(), detections["labels"][:2].numpy()
    native = faithcam.explain(model, images, "gradcam", faithcam.DetectionTarget(boxes, labels))
    peer = pgc_targets.FasterRCNNBoxScoreTarget(labels=labels, bounding_boxes=boxes)
    as_peer = faithcam.explain(model, images, "gradcam", [peer])
    torch.testing.assert_close(native.raw_maps, as_peer.raw_maps)
    torch.testing.assert_close(native.scores, 2 + detections["scores"][:2].sum()[None])
    assert native.maps.abs().max() > 0
    with pytest.raises(faithcam.LayerError, match="tensor"):
        faithcam.explain(model, images, "gradcam", [peer], "backbone")  # a dict of levels


# ----------------------------------------------------------------------------- targets
class OneLogit(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = GapLinearNet(classes=1)

    def forward(self, x):
        return self.net(x)


def test_single_logit_probability_is_a_sigmoid() -> None:
    model = OneLogit().eval()
    images = seeded_images(3, 16)
    with torch.no_grad():
        logit = model(images)[:, 0]
    probability = faithcam.explain(model, images, targets=faithcam.ClassProbability(0))
    torch.testing.assert_close(probability.scores, torch.sigmoid(logit))
    assert (probability.raw_maps.flatten(1).abs().amax(1) > 0).all()
    # σ'(z) > 0 rescales Grad-CAM's gradients: the same maps as the logit's
    torch.testing.assert_close(probability.maps, faithcam.explain(model, images, targets=0).maps)
    sigmoid = faithcam.explain(model, images, targets=faithcam.SigmoidProbability(0))
    torch.testing.assert_close(sigmoid.maps, probability.maps)


def test_binary_peer_target_agrees() -> None:
    """BinaryClassifierOutputTarget(1) explains z, (0) explains −z, one image's output each."""
    pgc_targets = pytest.importorskip("pytorch_grad_cam.utils.model_targets")
    model = OneLogit().eval()
    images = seeded_images(2, 16)
    for category, sign in ((1, 1.0), (0, -1.0)):
        peer = [pgc_targets.BinaryClassifierOutputTarget(category)] * 2
        native = faithcam.CallableTarget(lambda out, s=sign: s * out[:, 0])
        torch.testing.assert_close(
            faithcam.explain(model, images, targets=peer).raw_maps,
            faithcam.explain(model, images, targets=native).raw_maps,
        )


def test_multi_label_sums_classes(gap_model, small_images) -> None:
    """Grad-CAM is linear in the score: several classes summed = the sum of their raw maps."""
    summed = faithcam.explain(gap_model, small_images, targets=[[0, 3], [1], [2, 4]])
    singles = [faithcam.explain(gap_model, small_images, targets=c).raw_maps for c in range(5)]
    expected = torch.stack(
        [singles[0][0] + singles[3][0], singles[1][1], singles[2][2] + singles[4][2]]
    )
    torch.testing.assert_close(summed.raw_maps, expected)
    sigmoid = faithcam.explain(
        gap_model, small_images, targets=faithcam.MultiLabel([1, 2], "sigmoid")
    )
    with torch.no_grad():
        expected_scores = torch.sigmoid(gap_model(small_images))[:, [1, 2]].sum(1)
    torch.testing.assert_close(sigmoid.scores, expected_scores)
    sig = faithcam.explain(gap_model, small_images, targets=faithcam.SigmoidProbability(2))
    torch.testing.assert_close(sig.scores, torch.sigmoid(gap_model(small_images).detach()[:, 2]))


def test_numpy_targets(gap_model, small_images) -> None:
    by_ints = faithcam.explain(gap_model, small_images, targets=[1, 2, 3])
    by_array = faithcam.explain(gap_model, small_images, targets=np.array([1, 2, 3]))
    torch.testing.assert_close(by_ints.maps, by_array.maps)
    by_scalar = faithcam.explain(gap_model, small_images, targets=np.int64(2))
    torch.testing.assert_close(
        by_scalar.maps, faithcam.explain(gap_model, small_images, targets=2).maps
    )
    with pytest.raises(TypeError, match="integers"):
        faithcam.explain(gap_model, small_images, targets=np.array([1.5, 2, 3]))


def test_peer_style_per_image_callables(gap_model, small_images) -> None:
    pgc_targets = pytest.importorskip("pytorch_grad_cam.utils.model_targets")
    by_ids = faithcam.explain(gap_model, small_images, targets=[0, 2, 4])
    lambdas = faithcam.explain(
        gap_model, small_images, targets=[lambda o, c=c: o[c] for c in (0, 2, 4)]
    )
    peers = [pgc_targets.ClassifierOutputTarget(c) for c in (0, 2, 4)]
    torch.testing.assert_close(lambdas.maps, by_ids.maps)
    torch.testing.assert_close(
        faithcam.explain(gap_model, small_images, targets=peers).maps, by_ids.maps
    )
    soft = [pgc_targets.ClassifierOutputSoftmaxTarget(c) for c in (0, 2, 4)]
    probability = faithcam.explain(
        gap_model, small_images, targets=faithcam.ClassProbability([0, 2, 4])
    )
    torch.testing.assert_close(
        faithcam.explain(gap_model, small_images, targets=soft).scores, probability.scores
    )
    with pytest.raises(faithcam.TargetError, match="one score"):
        faithcam.explain(gap_model, small_images, targets=[lambda o: o] * 3)


# ----------------------------------------------------------------------------- dtypes, wrappers
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_models_take_float32_images(dtype) -> None:
    torch.manual_seed(0)
    reference = GapLinearNet().eval()
    model = GapLinearNet().eval()
    model.load_state_dict(reference.state_dict())
    model.to(dtype)
    images = seeded_images(2, 16)
    for method in ("gradcam", "ablationcam"):
        ours = faithcam.explain(model, images, method, targets=1)
        exact = faithcam.explain(reference, images, method, targets=1)
        assert torch.isfinite(ours.maps).all()
        corr = torch.corrcoef(torch.stack([ours.maps.flatten(), exact.maps.flatten()]))[0, 1]
        assert corr > 0.95
    assert next(model.parameters()).dtype == dtype


def test_compiled_model_is_explained_through_its_original_module(gap_model, small_images) -> None:
    compiled = torch.compile(gap_model, backend="eager")
    result = faithcam.explain(compiled, small_images, targets=1, layer="features")
    torch.testing.assert_close(
        result.maps, faithcam.explain(gap_model, small_images, targets=1).maps
    )


class Checkpointed(nn.Module):
    def __init__(self, reentrant: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = GapLinearNet()
        self.reentrant = reentrant

    def forward(self, x):
        features = checkpoint(self.net.features, x, use_reentrant=self.reentrant)
        return self.net.fc(self.net.pool(features).flatten(1))


@pytest.mark.filterwarnings("ignore:None of the inputs have requires_grad")
def test_reentrant_checkpoint_says_what_it_is(small_images) -> None:
    model = Checkpointed(reentrant=True).eval()
    with pytest.raises(faithcam.LayerError, match="reentrant gradient checkpointing"):
        faithcam.explain(model, small_images, targets=1, layer="net.features.2")
    plain = Checkpointed(reentrant=False).eval()
    result = faithcam.explain(plain, small_images, targets=1, layer="net.features.2")
    assert result.raw_maps.abs().max() > 0


# ----------------------------------------------------------------------------- metrics
def test_single_output_metrics_use_the_sigmoid() -> None:
    """A single-logit model: deletion's curve is σ(z), not a softmax of one value (constant 1
    for any map)."""
    from faithcam.metrics import deletion

    model = OneLogit().eval()
    images = seeded_images(2, 16)
    maps = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(0))
    result = deletion(model, images, maps, curve_steps=4)
    with torch.no_grad():
        logit = model(images)[:, 0]
        black = model(torch.zeros_like(images))[:, 0]
    curves = result.details["curves"]
    torch.testing.assert_close(curves[:, 0], torch.sigmoid(logit).double())
    torch.testing.assert_close(curves[:, -1], torch.sigmoid(black).double())
    logits = deletion(model, images, maps, targets=0, curve_steps=4, score="logit")
    torch.testing.assert_close(logits.details["curves"][:, 0], logit.double())


def test_no_hooks_left_and_model_untouched() -> None:
    model = small_vit()
    flags = [p.requires_grad for p in model.parameters()]
    for method, layer in (("ablationcam", None), ("gradcam", "heads.head:input")):
        faithcam.explain(model, X64[:1], method, 1, layer)
    resnet = seeded_torchvision("resnet18")
    faithcam.explain(resnet, X64[:1], "ablationcam", 1, "avgpool:input", batch_size=512)
    for module in (*model.modules(), *resnet.modules()):
        assert not module._forward_hooks and not module._forward_pre_hooks
    assert [p.requires_grad for p in model.parameters()] == flags and not model.training


@pytest.mark.parametrize(
    "name, layer, grid",
    [("vit_b_16", "encoder.layers.encoder_layer_11.ln_1", 14), ("swin_t", "features.7.1.norm1", 7)],
)
def test_torchvision_transformers_at_the_documented_layers(
    name: str, layer: str, grid: int
) -> None:
    """The README's and the layer docstring's names hold for the real torchvision ViT-B/16 and
    Swin-T (not only for the small test configurations), and the map is Grad-CAM of the patch
    tokens, checked against plain autograd and a naive loop."""
    from tests.references import naive_map, reference_gradients

    model = seeded_torchvision(name)
    head = model.heads.head if name == "vit_b_16" else model.head
    torch.manual_seed(3)
    nn.init.normal_(head.weight, std=0.05)  # torchvision zero-initialises ViT's head
    images = seeded_images(1, 224)
    result = faithcam.explain(model, images, "gradcam")
    assert result.layer == layer
    assert tuple(result.raw_maps.shape) == (1, grid, grid)
    classes = model(images).argmax(1)
    a, g, _ = reference_gradients(model, model.get_submodule(layer), images, classes)
    if name == "vit_b_16":  # (1, 1 + 14 * 14, C): drop the class token
        a, g = (t[:, 1:].reshape(1, grid, grid, -1) for t in (a, g))
    a, g = (t.permute(0, 3, 1, 2) for t in (a, g))  # channels-last -> (1, C, h, w)
    expected = naive_map("gradcam", a[0], g[0]).float()
    assert expected.abs().max() > 0
    torch.testing.assert_close(result.raw_maps[0], expected, rtol=1e-3, atol=1e-6)
