"""The hand-written semantic mutants of ``scripts/semantic_mutants.py`` (``make mutants``).

Each :class:`Mutant` is one plausible wrong answer: ``old`` (a snippet that occurs exactly once
in ``src/faithcam/<file>``) replaced by ``new``, judged by the test files of its area.
Groups: ``survivors`` (issue 25's twelve named survivors of a fresh mutant set) and ``new``
(mutants of the modules added in issue 22, written before their edge-case tests).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    group: str
    file: str  # under src/faithcam/
    name: str  # what the edit breaks
    old: str
    new: str
    tests: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.file}: {self.name}"


# The area's test files; the quickest ones first (the run stops at the first failure).
METHODS = ("tests/methods/test_reference_noise_and_tolerance.py", "tests/methods/test_baselines.py",
           "tests/methods/test_estimators.py", "tests/methods/test_seed_methods.py",
           "tests/methods/test_sampling.py")  # fmt: skip
ENGINE = ("tests/engine/test_grids_buffers_detections.py", "tests/engine/test_engine_layouts.py",
          "tests/engine/test_targets.py", "tests/guarantees/test_model_untouched.py")  # fmt: skip


def survivor(file: str, name: str, old: str, new: str, tests: tuple[str, ...]) -> Mutant:
    return Mutant("survivors", file, name, old, new, tests)


SURVIVORS = [
    survivor(
        "cams/baselines.py", "ReferenceSet: own image = any pixel equal",
        "itself = (chosen == images).flatten(1).all(1)",
        "itself = (chosen == images).flatten(1).any(1)", METHODS,
    ),
    survivor(
        "cams/baselines.py", "noise scale = max, not max - min",
        "return (flat.amax(1) - flat.amin(1)).view(-1, 1, 1, 1)",
        "return flat.amax(1).view(-1, 1, 1, 1)", METHODS,
    ),
    survivor(
        "cams/estimators/reduce.py", "Welford/Chan merge without the between-chunk term",
        "self.m2 = self.m2 + chunk_m2 + has_new * delta * delta * old_d * new_d / total",
        "self.m2 = self.m2 + chunk_m2", METHODS,
    ),
    survivor(
        "cams/estimators/runner.py", "tolerance stops at 1 standard error, not 2",
        "TOLERANCE_Z, MIN_TOLERANCE_SAMPLES = 2.0, 16",
        "TOLERANCE_Z, MIN_TOLERANCE_SAMPLES = 1.0, 16", METHODS,
    ),
    survivor(
        "cams/estimators/reduce.py", "tolerance path without the per-sample ReLU",
        "            values = values.clamp(min=0)\n", "", METHODS,
    ),
    survivor(
        "engine/layouts.py", "patch grid read as (W, H)",
        "h, w = image[0] // hints.patch[0], image[1] // hints.patch[1]",
        "w, h = image[0] // hints.patch[0], image[1] // hints.patch[1]", ENGINE,
    ),
    survivor(
        "engine/model_state.py", "buffer replaced by the forward not re-attached",
        "                if module._buffers.get(name) is not tensor:\n"
        "                    module._buffers[name] = tensor\n", "", ENGINE,
    ),
    survivor(
        "studies/settings.py", "weights hash without tensor names",
        'digest.update(f"{name}|{data.dtype}|', 'digest.update(f"{data.dtype}|',
        ("tests/studies/test_weights_key.py", "tests/studies/test_study_store.py",
         "tests/studies/test_study_units.py"),
    ),
    survivor(
        "engine/targets.py", "DetectionTarget matches detections of any label",
        "        iou = torch.where(labels[:, None] == found_labels[None], iou, "
        "torch.zeros_like(iou))\n", "", ENGINE,
    ),
    survivor(
        "engine/targets.py", "box IoU union double-counts the intersection",
        "union = area_a[:, None] + area_b[None] - inter", "union = area_a[:, None] + area_b[None]",
        ENGINE,
    ),
    survivor(
        "interop/for_quantus.py", "quantus_explain ignores layer=",
        "result = explain(model, inputs, method, targets, layer, **kwargs)",
        "result = explain(model, inputs, method, targets, None, **kwargs)",
        ("tests/peers/test_interop_arguments.py", "tests/peers/test_interop_quantus_captum.py"),
    ),
    survivor(
        "compat/pytorch_grad_cam/base_cam.py", "drop-in resizes with (H, W) as (W, H)",
        "size = (images.shape[-1], images.shape[-2])",
        "size = (images.shape[-2], images.shape[-1])",
        ("tests/peers/test_interop_arguments.py", "tests/peers/test_interop_compat.py"),
    ),
]

MUTANTS: list[Mutant] = SURVIVORS
