"""The hand-written semantic mutants of ``scripts/semantic_mutants.py`` (``make mutants``).

Each :class:`Mutant` is one plausible wrong answer: ``old`` (a snippet that occurs exactly once
in ``src/faithcam/<file>``) replaced by ``new``, judged by the test files of its area.
Groups: ``survivors`` (issue 25's twelve named survivors of a fresh mutant set) and ``new``
(mutants of the modules added in issue 22, written before their edge-case tests; each
area's first test file is the one written after them: docs/mutation.md has the kill rates
before and after).
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
        '_tensor_update(digest, f"{name}|", tensor)', '_tensor_update(digest, "", tensor)',
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

API = ("tests/engine/test_request_edges.py", "tests/engine/test_errors.py",
       "tests/engine/test_engine_details.py")  # fmt: skip
REGISTRY = ("tests/methods/test_registry_edges.py", "tests/methods/test_registry.py",
            "tests/engine/test_errors.py")  # fmt: skip
SAMPLING = ("tests/methods/test_tolerance_edges.py",
            "tests/methods/test_reference_noise_and_tolerance.py",
            "tests/methods/test_estimators.py", "tests/methods/test_sampling.py")  # fmt: skip
METRICS = ("tests/metrics/test_metrics_registry_edges.py", "tests/metrics/test_metrics_registry.py",
           "tests/metrics/test_metrics_vocabulary.py",
           "tests/metrics/test_metrics_targets.py")  # fmt: skip
SERVE = ("tests/cli/test_serve_uploads.py", "tests/cli/test_serve_api.py")


def new(file: str, name: str, old: str, new: str, tests: tuple[str, ...]) -> Mutant:
    return Mutant("new", file, name, old, new, tests)


NEW = [
    # faithcam/api.py
    new("api.py", "relu=False ignored when the maps are scaled",
        "raw.method or name, {**raw.settings, \"relu\": relu}, relu,",
        "raw.method or name, {**raw.settings, \"relu\": relu}, True,", API),
    new("api.py", "maps resized to (W, H)",
        "raw.maps, tuple(request.images.shape[-2:]), raw.target,",
        "raw.maps, tuple(request.images.shape[-2:])[::-1], raw.target,", API),
    new("api.py", "a class's call options do not override its constructor's",
        "self.model, images, self.method, targets, self.layer, **{**self.options, **options}",
        "self.model, images, self.method, targets, self.layer, **{**options, **self.options}",
        API),
    new("api.py", "train_mode ignored",
        "with model_guard(model, train_mode):", "with model_guard(model):", API),
    new("api.py", "method class cache ignores a re-registered class name",
        "if name not in _CLASSES or _CLASSES[name].__name__ != spec.class_name:",
        "if name not in _CLASSES:", API),
    # engine/request.py
    new("engine/request.py", "seed ignored",
        "generator = make_generator(seed, generator, images.device)",
        "generator = make_generator(None, generator, images.device)", API),
    new("engine/request.py", "normalization not checked against the images",
        "            norm.check(images)\n", "", API),
    new("engine/request.py", "batch_size not checked",
        "batch_size = check_count(\"batch_size\", batch_size)", "batch_size = batch_size", API),
    new("engine/request.py", "augmented copies keep the original images' bound target",
        "        target = self.target_spec.bind(len(images), images.device)\n"
        "        return dataclasses.replace(self, images=images, target=target)",
        "        return dataclasses.replace(self, images=images)", API),
    new("engine/request.py", "relu not checked",
        "        relu = check_flag(\"relu\", relu)\n", "", API),
    # cams/registry.py
    new("cams/registry.py", "method names case-sensitive",
        "name = ALIASES.get(method.lower(), method.lower())",
        "name = ALIASES.get(method, method)", REGISTRY),
    new("cams/registry.py", "aliases not resolved",
        "name = ALIASES.get(method.lower(), method.lower())", "name = method.lower()",
        REGISTRY),
    new("cams/registry.py", "a new name may collide with an alias",
        "if name in METHODS or name in ALIASES:", "if name in METHODS:", REGISTRY),
    new("cams/registry.py", "class name of a name starting with a digit not prefixed",
        "return text if text[:1].isalpha() else f\"Method{text}\"", "return text", REGISTRY),
    new("cams/registry.py", "unregister leaves the aliases",
        "        ALIASES.pop(alias, None)\n", "        pass\n", REGISTRY),
    new("cams/registry.py", "register_weighting's method defaults to the integrated estimator",
        "name, GradientMethod, citation or \"\", name, \"vanilla\", tuple(aliases),",
        "name, GradientMethod, citation or \"\", name, \"integrated\", tuple(aliases),",
        REGISTRY),
    # cams/estimators/runner.py
    new("cams/estimators/runner.py", "served images go first (others wait)",
        "active = [b for b in active if b not in served] + served",
        "active = served + [b for b in active if b not in served]", SAMPLING),
    new("cams/estimators/runner.py", "the last sample position is never used",
        "if next_position > n:", "if next_position >= n:", SAMPLING),
    new("cams/estimators/runner.py", "stops in the middle of an antithetic pair",
        "converged = count >= floor and count % self.step == 0",
        "converged = count >= floor", SAMPLING),
    new("cams/estimators/runner.py", "blocks may end inside an antithetic pair",
        "                k -= 1  # end the block on a whole antithetic pair\n",
        "                pass\n", SAMPLING),
    # cams/estimators/reduce.py
    new("cams/estimators/reduce.py", "fixed-count gradients summed without the row weights",
        "weighted = captured.gradients * weight.view(-1, 1, 1, 1)",
        "weighted = captured.gradients", SAMPLING),
    new("cams/estimators/reduce.py", "tolerance gradients divided by the largest count",
        "gradients = self.gradient_sum / counts", "gradients = self.gradient_sum / counts.max()",
        SAMPLING),
    new("cams/estimators/reduce.py", "standard error with the biased variance (k, not k - 1)",
        "self.m2.sum(dims) / ((k - 1).clamp(min=1) * k.clamp(min=1))",
        "self.m2.sum(dims) / (k.clamp(min=1) * k.clamp(min=1))", SAMPLING),
    new("cams/estimators/reduce.py", "a zero map with no spread has error 0/0",
        "        error = torch.where(variance_of_mean == 0, torch.zeros_like(error), error)\n",
        "", SAMPLING),
    # metrics/registry.py
    new("metrics/registry.py", "deprecated option names not renamed",
        "                key = self.aliases[key]\n", "", METRICS),
    new("metrics/registry.py", "a user metric's values lose its bounds",
        "        return replace(out, bounds=self.range(options))", "        return out", METRICS),
    new("metrics/registry.py", "score= ignored in a metric's bounds",
        "score = options.get(\"score\") or default", "score = default", METRICS),
    new("metrics/registry.py", "a metric may take a renamed metric's old name",
        "if (name in METRICS or name in RENAMED_METRICS) and not replace_existing:",
        "if name in METRICS and not replace_existing:", METRICS),
    new("metrics/registry.py", "bounds (a, a) accepted",
        "if not (low < high) or math.isnan(low) or low == math.inf:",
        "if not (low <= high) or math.isnan(low) or low == math.inf:", METRICS),
    new("metrics/registry.py", "model_randomization bounds swapped",
        "lambda options: _UNIT if options.get(\"absolute\") else (-1.0, 1.0),",
        "lambda options: (-1.0, 1.0) if options.get(\"absolute\") else _UNIT,", METRICS),
    # metrics/scoring.py
    new("metrics/scoring.py", "class id = number of classes accepted",
        "targets.max() >= n_classes", "targets.max() > n_classes", METRICS),
    new("metrics/scoring.py", "repeated classes of a probability target bounded by 1",
        "if self.score == \"probability\" and distinct:", "if self.score == \"probability\":",
        METRICS),
    new("metrics/scoring.py", "boolean targets taken as class ids",
        "if t.is_floating_point() or t.dtype == torch.bool or t.ndim != 1",
        "if t.is_floating_point() or t.ndim != 1", METRICS),
    new("metrics/scoring.py", "score= ignored for class ids",
        "    else:\n        score = score or default\n", "    else:\n        score = default\n",
        METRICS),
    # serve/uploads.py
    new("serve/uploads.py", "smallest side read as the largest",
        "if min(width, height) < limits.min_side:", "if max(width, height) < limits.min_side:",
        SERVE),
    new("serve/uploads.py", "kept copy shrunk by the longer side",
        "if min(height, width) <= side:", "if max(height, width) <= side:", SERVE),
    new("serve/uploads.py", "kept copy resized to (H, W)",
        "size = (max(side, round(width * scale)), max(side, round(height * scale)))",
        "size = (max(side, round(height * scale)), max(side, round(width * scale)))", SERVE),
    new("serve/uploads.py", "exactly max_pixels refused",
        "if width * height > limits.max_pixels:", "if width * height >= limits.max_pixels:",
        SERVE),
]

MUTANTS: list[Mutant] = SURVIVORS + NEW
