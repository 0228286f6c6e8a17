"""The whole pytorch-grad-cam 1.5.7 drop-in (issue 27) against the peer, on code written for the
peer: every public class, ``eigen_smooth``, ``aug_smooth``, several layers, the meta-methods,
the utilities. The peer's arrays (scaled as it scales them) must match to 1e-4.

Set-up: seeded random-init ResNet-18 (tests.helpers), 64 x 64 images, batch 2, classes 3 and 17,
layer ``layer3[-1]`` (4 x 4) unless a test says otherwise; a small torchvision ViT
(tests.transformer_models.small_vit) with the peer's ``vit_reshape_transform``. The peer's outputs
are golden (tests/golden/test_agreement_dropin.*) in ``make test``, live in ``make test-peers``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

import faithcam.compat.pytorch_grad_cam as dropin
from faithcam.compat.pytorch_grad_cam.utils import model_targets, reshape_transforms
from faithcam.compat.pytorch_grad_cam.utils import svd_on_activations as svd
from tests.helpers import seeded_images, seeded_torchvision
from tests.peer_helpers import pytorch_grad_cam
from tests.transformer_models import small_vit

CLASSES = [3, 17]
# pytorch-grad-cam 1.5.7's public classes: every capitalised name of dir(pytorch_grad_cam)
PEER_CLASSES = [
    "AblationCAM", "AblationLayer", "AblationLayerFasterRCNN", "AblationLayerVit",
    "ActivationsAndGradients", "DeepFeatureFactorization", "EigenCAM", "EigenGradCAM", "FEM",
    "FinerCAM", "FullGrad", "GradCAM", "GradCAMElementWise", "GradCAMPlusPlus",
    "GuidedBackpropReLUModel", "HiResCAM", "KPCA_CAM", "LayerCAM", "RandomCAM", "RefineCAM",
    "SESS", "ScoreCAM", "SegEigenCAM", "ShapleyCAM", "XGradCAM",
]  # fmt: skip
LAYER_CLASSES = [
    "GradCAM", "GradCAMPlusPlus", "GradCAMElementWise", "EigenGradCAM", "SegEigenCAM",
    "EigenCAM", "KPCA_CAM", "FEM", "ShapleyCAM",
]  # fmt: skip
FLAGS = {"plain": {}, "eigen_smooth": {"eigen_smooth": True}, "aug_smooth": {"aug_smooth": True}}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return seeded_torchvision("resnet18")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return seeded_images(2, 64)


def ours_targets(classes=CLASSES) -> list:
    return [model_targets.ClassifierOutputTarget(c) for c in classes]


def peer_targets(classes=CLASSES) -> list:
    pytorch_grad_cam()
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    return [ClassifierOutputTarget(c) for c in classes]


def run_peer(name, model, layers, images, targets=CLASSES, keywords=None, **call) -> np.ndarray:
    """The peer class ``name`` on ``layers`` (its ``keywords``), called on the images for the
    class ids ``targets`` (None: none given)."""
    cam = getattr(pytorch_grad_cam(), name)(model, layers, **(keywords or {}))
    try:
        return cam(images, peer_targets(targets) if targets else None, **call)
    finally:  # the peer's RefineCAM is no context manager
        for one in getattr(cam, "base_cam_per_layer", [getattr(cam, "base_cam", cam)]):
            one.activations_and_grads.release()
        model.zero_grad(set_to_none=True)


def run_ours(name, model, layers, images, targets=CLASSES, keywords=None, **call) -> np.ndarray:
    with getattr(dropin, name)(model, layers, **(keywords or {})) as cam:  # as a user would
        return cam(images, ours_targets(targets) if targets else None, **call)


def test_every_public_class_of_the_peer_is_in_the_drop_in() -> None:
    missing = [name for name in PEER_CLASSES if not hasattr(dropin, name)]
    assert not missing, missing
    assert len(PEER_CLASSES) == 25


@pytest.mark.peers
def test_the_list_is_the_installed_peer_s() -> None:
    peer = pytorch_grad_cam()
    assert sorted(n for n in dir(peer) if n[:1].isupper()) == sorted(PEER_CLASSES)


@pytest.mark.parametrize("flags", list(FLAGS))
@pytest.mark.parametrize("name", LAYER_CLASSES)
def test_layer_classes_match_the_peer(name, flags, model, images, peer_output) -> None:
    layers = [model.layer3[-1]]
    ours = run_ours(name, model, layers, images, **FLAGS[flags])
    theirs = peer_output(
        f"{name}-{flags}",
        partial(run_peer, name, model, layers, images, **FLAGS[flags]),
        model="resnet18", layer="layer3.1", images=images,
    )  # fmt: skip
    assert ours.shape == (2, 64, 64) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-4, err_msg=f"{name} {flags}")


@pytest.mark.parametrize("name", ["GradCAM", "EigenCAM", "SegEigenCAM", "FEM"])
def test_several_layers_match_the_peer(name, model, images, peer_output) -> None:
    layers = [model.layer2[-1], model.layer3[-1]]
    ours = run_ours(name, model, layers, images)
    theirs = peer_output(
        name, partial(run_peer, name, model, layers, images),
        model="resnet18", layers=["layer2.1", "layer3.1"], images=images,
    )  # fmt: skip
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_fullgrad_matches_the_peer(model, images, peer_output) -> None:
    ours = run_ours("FullGrad", model, [], images)
    theirs = peer_output("FullGrad", partial(run_peer, "FullGrad", model, [], images),
                         model="resnet18", images=images)  # fmt: skip
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize("base", ["GradCAM", "GradCAMPlusPlus"])
def test_refinecam_matches_the_peer(base, model, images, peer_output) -> None:
    layers = [model.layer2[-1], model.layer3[-1]]

    def peer() -> np.ndarray:
        base_method = getattr(pytorch_grad_cam(), base)
        return run_peer("RefineCAM", model, layers, images, keywords={"base_method": base_method})

    ours = run_ours("RefineCAM", model, layers, images,
                    keywords={"base_method": getattr(dropin, base)})  # fmt: skip
    theirs = peer_output(base, peer, model="resnet18", images=images)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize(
    "call", [{}, {"target_idx": 5, "alpha": 0.5}, {"comparison_categories": [2, 4]}]
)
def test_finercam_matches_the_peer(call, model, images, peer_output) -> None:
    layers = [model.layer3[-1]]
    ours = run_ours("FinerCAM", model, layers, images, targets=None, **call)
    theirs = peer_output(
        "FinerCAM", partial(run_peer, "FinerCAM", model, layers, images, None, **call),
        model="resnet18", images=images, call=call,
    )  # fmt: skip
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


SESS_OPTIONS = {
    "default-3-scales": {"num_scales": 3},
    "max-unsmoothed": {"num_scales": 2, "window_size": 48, "step_size": 24, "pool": "max",
                       "smooth": False},
    "filtered-raw-scores": {"num_scales": 2, "pre_filter_ratio": 0.5, "theta": 0.1,
                            "use_softmax_scores": False},
}  # fmt: skip


@pytest.mark.parametrize("case", list(SESS_OPTIONS))
def test_sess_matches_the_peer(case, model, images, peer_output) -> None:
    layers = [model.layer3[-1]]
    keywords = SESS_OPTIONS[case]
    ours = run_ours("SESS", model, layers, images, keywords=keywords)
    theirs = peer_output(
        case, partial(run_peer, "SESS", model, layers, images, keywords=keywords),
        model="resnet18", images=images, keywords=keywords,
    )  # fmt: skip
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_sess_refuses_bad_options(model) -> None:
    for bad in ({"pool": "median"}, {"pre_filter_ratio": 1.0}, {"num_scales": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            dropin.SESS(model, [model.layer3[-1]], **bad)


def test_guided_backprop_matches_the_peer(model, images, peer_output) -> None:
    for category in (None, 7):

        def peer(category=category) -> np.ndarray:
            return pytorch_grad_cam().GuidedBackpropReLUModel(model, "cpu")(images[:1], category)

        ours = dropin.GuidedBackpropReLUModel(model, "cpu")(images[:1], category)
        theirs = peer_output(f"guided-{category}", peer, model="resnet18", images=images[:1])
        assert ours.shape == (64, 64, 3)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-7)


def test_deep_feature_factorization_matches_the_peer(model, images, peer_output) -> None:
    def peer() -> dict[str, np.ndarray]:
        cls = pytorch_grad_cam().DeepFeatureFactorization
        concepts, maps, outputs = cls(model, model.layer4, computation_on_concepts=model.fc)(
            images, 4
        )
        return {"concepts": concepts, "maps": np.stack(maps), "outputs": outputs}

    concepts, maps, outputs = dropin.DeepFeatureFactorization(
        model, model.layer4, computation_on_concepts=model.fc
    )(images, 4)
    theirs = peer_output("dff", peer, model="resnet18", images=images)
    np.testing.assert_allclose(concepts, theirs["concepts"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.stack(maps), theirs["maps"], atol=1e-4)
    np.testing.assert_allclose(outputs, theirs["outputs"], rtol=1e-4, atol=1e-4)


def test_ablation_cam_takes_the_default_ablation_layer(model, images, peer_output) -> None:
    layers = [model.layer4[-1]]
    ours = run_ours("AblationCAM", model, layers, images,
                    keywords={"ablation_layer": dropin.AblationLayer()})  # fmt: skip
    theirs = peer_output("AblationCAM", partial(run_peer, "AblationCAM", model, layers, images),
                         model="resnet18", images=images)  # fmt: skip
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    with pytest.raises(NotImplementedError, match="ablation_layer"):
        dropin.AblationCAM(model, layers, ablation_layer=dropin.AblationLayerVit())


def test_projections_match_the_peer_s(peer_output) -> None:
    batch = np.random.default_rng(0).standard_normal((3, 16, 5, 6)).astype(np.float32)
    batch[0, 0, 0, 0] = np.nan
    for name in ("get_2d_projection", "get_2d_projection_kernel",
                 "get_2d_projection_with_sign_correction"):  # fmt: skip

        def peer(name=name) -> np.ndarray:
            pytorch_grad_cam()
            from pytorch_grad_cam.utils import svd_on_activations

            return getattr(svd_on_activations, name)(batch)

        theirs = peer_output(name, peer, batch=np.nan_to_num(batch), nan_at=[0, 0, 0, 0])
        np.testing.assert_allclose(getattr(svd, name)(batch), theirs, rtol=1e-4, atol=1e-5)


def test_activations_and_gradients_record_what_the_peer_records(model, images, peer_output):
    def record(module) -> dict[str, torch.Tensor]:
        recorder = module.ActivationsAndGradients(model, [model.layer3, model.layer4], None)
        try:
            recorder(images)[:, 3].sum().backward()
            model.zero_grad(set_to_none=True)
            out = {f"a{i}": a for i, a in enumerate(recorder.activations)}
            return out | {f"g{i}": g for i, g in enumerate(recorder.gradients)}
        finally:
            recorder.release()

    ours = record(dropin)
    theirs = peer_output("recorded", lambda: record(pytorch_grad_cam()), model="resnet18",
                         images=images)  # fmt: skip
    assert ours.keys() == theirs.keys()
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-6)
    assert not model.layer3._forward_hooks and not model.layer4._forward_hooks  # released


VIT_CLASSES = ["GradCAM", "GradCAMElementWise", "EigenGradCAM", "SegEigenCAM", "EigenCAM", "FEM"]


@pytest.mark.parametrize("name", VIT_CLASSES)
def test_vit_classes_match_the_peer(name, peer_output) -> None:
    model = small_vit()
    x = seeded_images(2, 64)
    layer = model.encoder.layers.encoder_layer_1.ln_1

    def peer() -> np.ndarray:
        pytorch_grad_cam()
        from pytorch_grad_cam.utils.reshape_transforms import vit_reshape_transform

        keywords = {"reshape_transform": lambda t: vit_reshape_transform(t, 4, 4)}
        return run_peer(name, model, [layer], x, [3, 7], keywords=keywords)

    reshape = {"reshape_transform": lambda t: reshape_transforms.vit_reshape_transform(t, 4, 4)}
    ours = run_ours(name, model, [layer], x, [3, 7], keywords=reshape)
    theirs = peer_output(name, peer, model="tests.transformer_models.small_vit", images=x)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


@pytest.fixture(scope="module")
def cams(model, images) -> np.ndarray:
    """The maps the metrics score: the drop-in's Grad-CAM at layer3."""
    return run_ours("GradCAM", model, [model.layer3[-1]], images)


@pytest.mark.parametrize(
    "name", ["CamMultImageConfidenceChange", "DropInConfidence", "IncreaseInConfidence"]
)
def test_cam_mult_image_metrics_match_the_peer(name, model, images, cams, peer_output) -> None:
    from faithcam.compat.pytorch_grad_cam.metrics import cam_mult_image

    def peer() -> np.ndarray:
        pytorch_grad_cam()
        from pytorch_grad_cam.metrics import cam_mult_image as theirs

        return getattr(theirs, name)()(images, cams, peer_targets(), model)

    ours = getattr(cam_mult_image, name)()(images, cams, ours_targets(), model)
    theirs = peer_output(name, peer, model="resnet18", images=images, cams=cams)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "percentile"),
    [("ROADMostRelevantFirst", 80), ("ROADLeastRelevantFirst", 20),
     ("ROADMostRelevantFirst", "auto"), ("ROADLeastRelevantFirst", "auto")],
)  # fmt: skip
def test_road_matches_the_peer_without_noise(name, percentile, model, images, cams, peer_output):
    """Without imputation noise (the only random part) the peer and the drop-in agree."""
    from faithcam.compat.pytorch_grad_cam.metrics import road

    def silenced(metric):
        metric.perturbation.imputer.noise = 0.0
        return metric

    def peer() -> np.ndarray:
        pytorch_grad_cam()
        from pytorch_grad_cam.metrics import road as theirs

        return silenced(getattr(theirs, name)(percentile))(images, cams, peer_targets(), model)

    ours = silenced(getattr(road, name)(percentile))(images, cams, ours_targets(), model)
    theirs = peer_output(f"{name}-{percentile}", peer, model="resnet18", images=images, cams=cams)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_coherency_and_complexity_match_the_peer(model, images, cams, peer_output) -> None:
    from faithcam.compat.pytorch_grad_cam.metrics import arcc

    def peer() -> dict[str, np.ndarray]:
        peer_module = pytorch_grad_cam()
        from pytorch_grad_cam.metrics import arcc as theirs

        base = peer_module.GradCAM(model, [model.layer3[-1]])
        coherency = theirs.Coherency()(images, cams, peer_targets(), model, base)
        base.activations_and_grads.release()
        return {"coherency": coherency, "complexity": theirs.Complexity()(cams)}

    base = dropin.GradCAM(model, [model.layer3[-1]])
    theirs = peer_output("arcc-parts", peer, model="resnet18", images=images, cams=cams)
    coherency = arcc.Coherency()(images, cams, ours_targets(), model, base)
    np.testing.assert_allclose(coherency, theirs["coherency"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(arcc.Complexity()(cams), theirs["complexity"], rtol=1e-6)
