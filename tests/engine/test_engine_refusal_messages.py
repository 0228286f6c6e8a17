"""Every refusal of the engine tier says what was wrong in full (mutation testing: messages that
no test read survived as mutants; docs/mutation.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

import faithcam
from faithcam.engine import inputs, model_state, result, validation
from faithcam.engine import targets as T
from faithcam.engine.capture import activations_at
from faithcam.engine.layers import resolve_layer
from faithcam.errors import FaithcamTypeError, FaithcamValueError, LayerError, TargetError
from tests.helpers import GapLinearNet, refusal_message, warnings_of

CONVERT = (
    "convert it with the model's normalisation (or pass normalization=(mean, std) and faithcam "
    "converts it):\n"
    "    x = torchvision.transforms.functional.to_tensor(image)[None]\n"
    "    x = torchvision.transforms.functional.normalize(x, mean, std)"
)


def _guard(train_mode):
    with model_state.model_guard(nn.Linear(2, 2), train_mode=train_mode):
        pass


def _result():
    return result.CamResult(
        maps=torch.zeros(2, 4, 4),
        raw_maps=torch.zeros(2, 2, 2),
        targets=None,
        scores=torch.zeros(2),
        layer="features",
        method="gradcam",
    )


VALIDATION_REFUSALS = [
    (
        lambda: validation.refuse_uninitialised(nn.LazyLinear(3)),
        FaithcamValueError,
        "model: weight is not initialised yet (a lazy module); run one forward pass first, "
        "model(images), so that its shapes are known",
    ),
    (
        lambda: validation.refuse_uninitialised(nn.Linear(2, 2, device="meta")),
        FaithcamValueError,
        "model: weight is on the meta device (no data); load real weights first "
        "(model.to_empty(device=...) then load_state_dict)",
    ),
    (
        lambda: validation.check_images([1, 2]),
        FaithcamTypeError,
        "images: expected a (B, C, H, W) torch.Tensor, got list",
    ),
    (
        lambda: validation.check_images(torch.zeros(1, 3, 4, 4, dtype=torch.int64)),
        FaithcamTypeError,
        "images: expected a floating-point tensor, got dtype torch.int64 "
        "(convert with images.float() / 255 and normalise as the model expects)",
    ),
    (
        lambda: validation.check_images(torch.zeros(1, 3, 4, 4, device="meta")),
        FaithcamValueError,
        "images: the tensor is on the meta device (it holds no data)",
    ),
    (
        lambda: validation.check_images(torch.zeros(0, 3, 4, 4)),
        FaithcamValueError,
        "images: the batch is empty (B = 0)",
    ),
    (
        lambda: validation.check_images(torch.zeros(1, 3, 0, 4)),
        FaithcamValueError,
        "images: spatial size must be >= 1, got (1, 3, 0, 4)",
    ),
    (
        lambda: validation.check_count("steps", 2.0),
        FaithcamTypeError,
        "steps: expected an int >= 1, got 2.0",
    ),
    (
        lambda: validation.make_generator(1, torch.Generator(), None),
        FaithcamValueError,
        "seed, generator: pass one of them, not both",
    ),
    (
        lambda: validation.check_seed("7"),
        FaithcamTypeError,
        "seed: expected an int, got '7'",
    ),
    (
        lambda: validation.check_cost(2, 10**8, "samples=100000000", 64),
        FaithcamValueError,
        "samples=100000000: 2 images x 100,000,000 rows = 200,000,000 forward rows through the "
        "model, 3,125,000 passes of batch_size=64; faithcam runs at most 100,000,000 rows per "
        "call: pass a smaller value",
    ),
    (
        lambda: validation.check_finite(
            torch.tensor([[1.0], [float("nan")], [float("inf")]]), "gradients"
        ),
        FaithcamValueError,
        "gradients of image 1 are NaN or infinite (2 of 3 rows): NaN or infinite weights, "
        "inputs or baselines?",
    ),
    (
        lambda: validation.check_finite(
            torch.tensor([[1.0], [float("nan")]]), "scores", torch.tensor([4, 5])
        ),
        FaithcamValueError,
        "scores of image 5 are NaN or infinite (1 of 2 rows): NaN or infinite weights, "
        "inputs or baselines?",
    ),
    (
        lambda: inputs.pixels_to_tensor(np.zeros((4, 4, 3), dtype=np.uint8)),
        FaithcamTypeError,
        f"images: got a NumPy array (4, 4, 3), not a (B, C, H, W) tensor; {CONVERT}",
    ),
    (
        lambda: inputs.pixels_to_tensor(
            np.full((4, 4, 3), 2.0), ((0.5, 0.5, 0.5), (0.2, 0.2, 0.2))
        ),
        FaithcamValueError,
        "images: a NumPy array (4, 4, 3) of floats outside [0, 1]: faithcam reads a NumPy array "
        "as pixels; pass a normalised input as a tensor, torch.from_numpy(array)",
    ),
    (
        lambda: inputs.pixels_to_tensor(
            np.zeros((4, 4, 3), dtype=np.complex64), ((0.5, 0.5, 0.5), (0.2, 0.2, 0.2))
        ),
        FaithcamTypeError,
        "images: a NumPy array (4, 4, 3) of dtype complex64; expected pixels",
    ),
    (
        lambda: _guard(1),
        FaithcamTypeError,
        "train_mode: expected True or False, got 1",
    ),
    (
        lambda: result.postprocess(
            torch.tensor([[[1.0]], [[float("nan")]], [[float("inf")]]]), (2, 2)
        ),
        FaithcamValueError,
        "raw map of image 1 is NaN or infinite (2 of 3 images): the model's scores or gradients "
        "are not finite (NaN or infinite weights, a NaN baseline, an infinite sigma?)",
    ),
    (
        lambda: _result()["0"],
        FaithcamTypeError,
        "index: expected an int or a slice, got '0'",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), VALIDATION_REFUSALS)
def test_every_input_and_state_refusal_says_what_was_wrong(call, error, message):
    assert refusal_message(call, error) == message


class _Pair(nn.Module):
    def forward(self, x):
        return (x, x)


class _PairNet(GapLinearNet):
    """The layer 'pair' returns a tuple."""

    def __init__(self):
        super().__init__()
        self.pair = _Pair()

    def forward(self, x):
        return self.fc(self.pool(self.pair(self.features(x))[0]).flatten(1))


class _KeywordNet(GapLinearNet):
    """'fc' is called with its input as a keyword."""

    def forward(self, x):
        return self.fc(input=self.pool(self.features(x)).flatten(1))


class _CheckpointNet(GapLinearNet):
    """'features' runs inside reentrant gradient checkpointing."""

    def forward(self, x):
        features = checkpoint(self.features, x, use_reentrant=True)
        return self.fc(self.pool(features).flatten(1))


class _SpareNet(GapLinearNet):
    """'spare' is never called."""

    def __init__(self):
        super().__init__()
        self.spare = nn.Conv2d(3, 3, 1)


def _explain_model_as_its_own_layer():
    model = GapLinearNet()
    return faithcam.explain(model, torch.randn(1, 3, 8, 8), layer=model)


NEVER_CALLED = (
    "layer: 'spare' was never called during the forward pass; pick a module on the path from "
    "the input to the output"
)
NOT_A_TENSOR = (
    "layer: 'pair' returns tuple, expected a tensor (or pass reshape_transform= to turn it "
    "into one)"
)

LAYER_REFUSALS = [
    (
        "model_itself",
        _explain_model_as_its_own_layer,
        {},
        "layer: the model itself cannot be the target layer; pass a sub-module",
    ),
    (
        "not_a_sub_module",
        GapLinearNet,
        {"layer": nn.ReLU()},
        "layer: the module passed is not a sub-module of the model (ReLU); pass one of "
        "model.named_modules() or its name",
    ),
    (
        "no_feature_map",
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(192, 5)),
        {},
        "layer: the model has no sub-module with a 4-D (B, C, h, w) feature map of more than "
        "one location, of the image's aspect ratio, that runs once per forward; pass layer= "
        "explicitly (a module name or module)",
    ),
    ("tuple_gradcam", _PairNet, {"layer": "pair"}, NOT_A_TENSOR),
    ("tuple_eigencam", _PairNet, {"layer": "pair", "method": "eigencam"}, NOT_A_TENSOR),
    (
        "tuple_with_reshape_gradcam",
        _PairNet,
        {"layer": "pair", "reshape_transform": lambda t: t[0]},
        "layer: 'pair' returns tuple; gradient methods need a tensor layer (pick a "
        "tensor-valued sub-module)",
    ),
    (
        "keyword_input",
        _KeywordNet,
        {"layer": "fc:input"},
        "layer: 'fc:input' was called without a positional input to explain",
    ),
    (
        "reentrant_checkpoint",
        _CheckpointNet,
        {"layer": "features.1"},
        "layer: 'features.1' runs inside reentrant gradient checkpointing "
        "(torch.utils.checkpoint with use_reentrant=True), which cuts the gradient path from "
        "the output back to it; use use_reentrant=False, or a layer outside the checkpointed "
        "segment",
    ),
    ("never_called_gradcam", _SpareNet, {"layer": "spare"}, NEVER_CALLED),
    ("never_called_eigencam", _SpareNet, {"layer": "spare", "method": "eigencam"}, NEVER_CALLED),
    (
        "two_dimensional_output",
        GapLinearNet,
        {"layer": "fc"},
        "layer: 'fc' returns a 2-D tensor of shape (1, 5); expected a 4-D (B, C, h, w) or "
        "(B, h, w, C) feature map, (B, C, T, h, w) maps or (B, N, C) tokens; pass "
        "reshape_transform=",
    ),
    (
        "ablation_with_custom_reshape",
        GapLinearNet,
        {"layer": "features", "method": "ablationcam", "reshape_transform": lambda t: t},
        "reshape_transform: this method substitutes the layer's output and cannot invert a "
        "custom reshape_transform; use a gradient method or a layer with a built-in layout",
    ),
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    ("make_model", "options", "message"),
    [case[1:] for case in LAYER_REFUSALS],
    ids=[case[0] for case in LAYER_REFUSALS],
)
def test_every_layer_refusal_says_what_to_pass(make_model, options, message):
    with pytest.raises(LayerError) as caught:
        if make_model is _explain_model_as_its_own_layer:
            make_model()
        else:
            faithcam.explain(make_model(), torch.randn(1, 3, 8, 8), **options)
    assert str(caught.value) == message


CPU = torch.device("cpu")
ROWS = (torch.tensor([0, 1]), torch.tensor([True, True]))  # image_index, is_input


def _scores(target, outputs):
    return target.bind(2, CPU).scores(outputs, *ROWS)


ONE_SCORE = (
    "targets: a per-image callable takes one image's output and must return one score (a "
    "tensor with one element), got "
)
SCORE_CHOICES = "score: expected one of logit, probability, sigmoid, got 'softmax'"

TARGET_REFUSALS = [
    (lambda: T.MultiLabel([1], score="softmax"), FaithcamValueError, SCORE_CHOICES),
    (lambda: T.as_target(1, score="softmax"), FaithcamValueError, SCORE_CHOICES),
    (
        lambda: T.MultiLabel([[1], [2], [3]]).bind(2, CPU),
        TargetError,
        "targets: got 3 class lists for 2 images",
    ),
    (
        lambda: T.MultiLabel([[1], []]).bind(2, CPU),
        TargetError,
        "targets: every image needs at least one class id",
    ),
    (
        lambda: T.ClassLogit(-1).bind(2, CPU),
        TargetError,
        "targets: class ids must be >= 0, got -1",
    ),
    (
        lambda: T.select_output(torch.zeros(1), lambda outputs: "logits"),
        FaithcamTypeError,
        "output_selector: selected a str, expected a tensor",
    ),
    (
        lambda: T.SegmentationTarget(1, mask=torch.ones(3, 4, 4)).bind(2, CPU),
        TargetError,
        "mask: expected (H, W) or (2, H, W), got (3, 4, 4)",
    ),
    (
        lambda: T.DetectionTarget([[[0, 0, 1, 1]]], [[1], [2]]).bind(2, CPU),
        TargetError,
        "targets: got 1 box sets and 2 label sets for 2 images",
    ),
    (
        lambda: _scores(T.SegmentationTarget(1, mask=torch.ones(4, 4)), torch.zeros(2, 3, 5, 5)),
        TargetError,
        "mask: shape (4, 4) differs from the model's output (5, 5)",
    ),
    (
        lambda: _scores(T.CallableTarget([lambda o: o, lambda o: o]), torch.zeros(2, 3)),
        TargetError,
        ONE_SCORE + "(3,)",
    ),
    (
        lambda: _scores(T.CallableTarget([lambda o: 1.0, lambda o: 1.0]), torch.zeros(2, 3)),
        TargetError,
        ONE_SCORE + "float",
    ),
    (
        lambda: _scores(T.CallableTarget(lambda o: [1.0, 2.0]), torch.zeros(2, 3)),
        TargetError,
        "targets: a callable target must return a tensor, got <class 'list'>",
    ),
    (
        lambda: _scores(T.CallableTarget(lambda o: o), torch.zeros(2, 3)),
        TargetError,
        "targets: a callable target must return one score per row, shape (2,); got (2, 3)",
    ),
    (
        lambda: T.ClassLogit(True).bind(2, CPU),
        FaithcamTypeError,
        "targets: expected a class id (int), got a bool",
    ),
    (
        lambda: T.ClassLogit(["a", "b"]).bind(2, CPU),
        FaithcamTypeError,
        "targets: expected ints, a sequence of ints or a tensor, got ['a', 'b']",
    ),
    (
        lambda: T.ClassLogit(torch.tensor([1.0, 2.0])).bind(2, CPU),
        FaithcamTypeError,
        "targets: class ids must be integers, got dtype torch.float32",
    ),
    (
        lambda: T.ClassLogit([1, 2, 3]).bind(2, CPU),
        TargetError,
        "targets: got 3 class ids for 2 images; give one per image, or an int for the same "
        "class in every image",
    ),
    (
        lambda: T.as_target(np.array([1.5, 2.0])),
        FaithcamTypeError,
        "targets: class ids must be integers, got array([1.5, 2. ])",
    ),
    (
        lambda: T.select_output((torch.zeros(1),), 3),
        FaithcamTypeError,
        "output_selector: cannot index the model output (tuple) with 3",
    ),
    (
        lambda: T.select_output({"logits": torch.zeros(1)}, "scores"),
        FaithcamTypeError,
        "output_selector: cannot index the model output (dict) with 'scores'",
    ),
    (
        lambda: T.select_output([torch.zeros(1)]),
        FaithcamTypeError,
        "output_selector: the model returned list, not a tensor; pass output_selector=(an "
        "index, a key, or a callable that returns the logits tensor)",
    ),
    (
        lambda: T.select_output({"a": torch.zeros(1), "b": torch.zeros(1)}),
        FaithcamTypeError,
        "output_selector: the model returned keys ['a', 'b'], not a tensor; pass "
        "output_selector=(an index, a key, or a callable that returns the logits tensor)",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), TARGET_REFUSALS)
def test_every_target_refusal_names_the_mismatch(call, error, message):
    assert refusal_message(call, error) == message


def test_activations_of_a_layer_the_forward_skips_are_refused_by_name():
    model, images = _SpareNet(), torch.randn(1, 3, 8, 8)
    layer = resolve_layer(model, "spare", images)
    with pytest.raises(LayerError) as caught:
        activations_at(model, layer, images)
    assert str(caught.value) == NEVER_CALLED


def _warning_texts(call) -> list[str]:
    return [str(w.message) for w in warnings_of(call)[1]]


def test_the_engines_warnings_say_what_was_seen_in_full():
    """The warnings of the engine tier, read whole (a partial ``match=`` lets a mangled
    message through): 0-255 pixels, pixels never normalised, a costly call."""
    norm = ([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    assert _warning_texts(lambda: inputs.warn_unnormalised(torch.full((1, 3, 2, 2), 200.0))) == [
        "images: values reach 200; this looks like 0-255 pixels, not the model's normalised "
        "input (the prediction and the map then describe another image): pass "
        "(images / 255 - mean) / std"
    ]
    assert _warning_texts(lambda: inputs.warn_unnormalised(torch.rand(1, 3, 2, 2), norm)) == [
        "images: every value lies in [0, 1] although normalization has mean [0.5, 0.5, 0.5]: "
        "these look like pixels that were never normalised; pass (images - mean) / std"
    ]
    assert _warning_texts(lambda: validation.check_cost(2, 10**6, "samples=1000000", 64)) == [
        "samples=1000000: 2 images x 1,000,000 rows = 2,000,000 forward rows through the model, "
        "31,250 passes of batch_size=64: this call will take long"
    ]


def test_the_row_limits_are_inclusive_bounds() -> None:
    """Seed 20261223: "at most 10**8 rows per call" allows exactly 10**8 rows (with the cost
    warning) and refuses one more; at most 10**6 rows run without a warning."""
    assert _warning_texts(lambda: validation.check_cost(1, 10**6, "steps=1000000", 100)) == []
    assert _warning_texts(lambda: validation.check_cost(1, 10**8, "steps=100000000", 10**6)) == [
        "steps=100000000: 1 images x 100,000,000 rows = 100,000,000 forward rows through the "
        "model, 100 passes of batch_size=1000000: this call will take long"
    ]
    with pytest.raises(FaithcamValueError, match="at most 100,000,000 rows per call"):
        validation.check_cost(1, 10**8 + 1, "steps=100000001", 10**6)


class _SqrtHead(nn.Module):
    """score = fc(mean sqrt|A|): where A is 0 (a black image, no bias) the gradient is NaN,
    while the activations and the score stay finite."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Conv2d(3, 2, 1, bias=False)
        self.fc = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).abs().sqrt().mean((2, 3)))


def test_non_finite_gradients_alone_are_refused_naming_the_layer_and_the_image():
    images = torch.stack([torch.rand(3, 4, 4) + 0.5, torch.zeros(3, 4, 4)])
    with pytest.raises(FaithcamValueError) as refused:
        faithcam.explain(_SqrtHead().eval(), images, "gradcam", 0, layer="features")
    assert str(refused.value) == (
        "the gradients at layer 'features' of image 1 are NaN or infinite (1 of 2 rows): NaN or "
        "infinite weights, inputs or baselines?"
    )


def test_a_single_non_finite_score_without_dimensions_is_refused_as_image_0():
    """A 0-D value (one image's score, reduced) is one row of one value."""
    validation.check_finite(torch.tensor(1.5), "the target scores")  # finite: nothing to say
    with pytest.raises(FaithcamValueError) as refused:
        validation.check_finite(torch.tensor(float("inf")), "the target scores")
    assert str(refused.value) == (
        "the target scores of image 0 are NaN or infinite (1 of 1 rows): NaN or infinite "
        "weights, inputs or baselines?"
    )


def test_the_empty_layer_name_is_no_layer_and_no_suggestion():
    """Seed 20261215: ``""`` is the model's own name in ``named_modules()``; as ``layer=`` it
    is refused like any unknown name (the model itself is no target layer), and the names
    suggested are the sub-modules only."""
    with pytest.raises(LayerError) as refused:
        faithcam.explain(GapLinearNet().eval(), torch.rand(1, 3, 8, 8), "gradcam", 0, layer="")
    assert str(refused.value) == (
        "layer: no module named '' in the model; closest valid names: features, features.0, "
        "features.1, features.2, features.3"
    )


def test_class_targets_on_a_segmentation_output_name_its_shape():
    """Seed 20261216: a class id for a model whose output is (N, classes, H, W) is refused with
    that shape, not the word Tensor."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 1)).eval()
    with pytest.raises(TargetError) as refused:
        faithcam.explain(model, torch.rand(2, 3, 8, 8), "gradcam", 0, layer="1")
    assert str(refused.value) == (
        "targets: class targets need (N, classes) model outputs, got (2, 3, 8, 8); pass an "
        "output_selector or a callable"
    )


def test_multi_label_targets_on_a_segmentation_output_name_its_shape():
    """Seed 20261217: class lists for a model whose output is (N, classes, H, W)."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 1)).eval()
    with pytest.raises(TargetError) as refused:
        faithcam.explain(model, torch.rand(2, 3, 8, 8), "gradcam", [[0, 1], [2]], layer="1")
    assert str(refused.value) == (
        "targets: multi-label targets need (N, classes) model outputs, got (2, 3, 8, 8); pass an "
        "output_selector or a callable"
    )
