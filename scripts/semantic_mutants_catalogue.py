"""The hand-written semantic mutants of ``scripts/semantic_mutants.py`` (``make mutants``).

Each :class:`Mutant` is one plausible wrong answer: ``old`` (a snippet that occurs exactly once
in ``src/faithcam/<file>``) replaced by ``new``, judged by the test files of its area.
Groups: ``survivors`` (issue 25's twelve named survivors of a fresh mutant set), and mutants of
the modules added by each issue of the wave, each group written (and committed) before its
edge-case tests: ``new`` (issue 22), ``truth`` (issue 23: faithcam.truth), ``sampling``
(issue 28: samplers, per-image streams, quasi-random tolerance), ``peers`` (issue 27: FEM,
Seg-Eigen-CAM, sign rules, product fusion, the drop-ins' metrics and utilities, torchcam's
drop-in, dense targets), ``stores`` (issue 24: the store checks and row checksums, the resume
key, the resume checks of images and rank files, the safe writer, the zip layout) and
``owndata`` (issue 26: progress and its ETA, friendly inputs, study items, evaluate's images
without boxes, the papers' protocol, the report's ranking and counts). Each area's first test
file is the one written after the mutants: docs/mutation.md has the kill rates before and
after.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial


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


survivor = partial(Mutant, "survivors")  # survivor(file, name, old, new, tests)


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
        "size = tuple(images.shape[:1:-1])",
        "size = tuple(images.shape[2:])",
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


new = partial(Mutant, "new")  # new(file, name, old, new, tests)


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
        "            check_count(\"batch_size\", batch_size)\n", "            pass\n", API),
    new("engine/request.py", "augmented copies keep the original images' bound target",
        "        target = self.target_spec.bind(len(images), images.device)\n"
        "        return dataclasses.replace(self, images=images, target=target)",
        "        return dataclasses.replace(self, images=images)", API),
    new("engine/request.py", "relu not checked",
        "            check_flag(\"relu\", relu)\n", "", API),
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
        "                k -= (next_position[b] + k - 1) % self.step  # end on a whole step\n",
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
        "        error = torch.where(variance_of_mean == 0, torch.zeros_like(error), error)\n"
        "        error = torch.where(k < 2", "        error = torch.where(k < 2", SAMPLING),
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

# Issue 23's modules (faithcam/truth): written before their edge-case tests.
TRUTH_TESTS = ("tests/truth/test_truth_edges.py", "tests/truth/test_scores.py",
               "tests/truth/test_ranking.py", "tests/truth/test_shapley.py")  # fmt: skip


CHECKPOINT_TESTS = ("tests/truth/test_cli.py",)


def truth(file: str, name: str, old: str, new: str, tests: tuple[str, ...] = TRUTH_TESTS):
    return Mutant("truth", f"truth/{file}", name, old, new, tests)


TRUTH = [
    # truth/enumeration.py
    truth("enumeration.py", "Shapley weight w(s) with (n - s)! for (n - s - 1)!",
          "math.factorial(s) * math.factorial(players - s - 1) / math.factorial(players)",
          "math.factorial(s) * math.factorial(players - s) / math.factorial(players)"),
    truth("enumeration.py", "coalitions holding i weighted w(|S|), not w(|S| - 1)",
          "joined = w[(sizes - 1).clamp(min=0)] * v", "joined = w[sizes] * v"),
    truth("enumeration.py", "the coalitions without i added, not subtracted",
          "return member.T @ joined - (1 - member).T @ left_out",
          "return member.T @ joined + (1 - member).T @ left_out"),
    truth("enumeration.py", "progress counts whole batches on the last, short one",
          "            progress(len(batch))", "            progress(batch_size)"),
    # truth/sampling.py
    truth("sampling.py", "one block allowed (no standard error)",
          "return max(2, -(-permutations // size))", "return max(1, -(-permutations // size))"),
    truth("sampling.py", "blocks rounded down, not up",
          "return max(2, -(-permutations // size))", "return max(2, permutations // size)"),
    truth("sampling.py", "antithetic partner a rotation, not the reverse",
          "return torch.stack([base, base.flip(0)])", "return torch.stack([base, base.roll(1)])"),
    truth("sampling.py", "first k players of a permutation off by one",
          "masks = position[which] < size[:, None]", "masks = position[which] <= size[:, None]"),
    truth("sampling.py", "gains scattered by position, not by player",
          "scatter_(1, permutations, gains)", "scatter_(1, position, gains)"),
    truth("sampling.py", "standard error without the square root of the block count",
          "stderr = block_means.std(0, correction=1) / blocks**0.5",
          "stderr = block_means.std(0, correction=1)"),
    # truth/scores.py
    truth("scores.py", "positive = above an absolute 1e-6, not relative to the largest value",
          "return values > RELATIVE_ZERO * scale if scale > 0",
          "return values > RELATIVE_ZERO if scale > 0"),
    truth("scores.py", "top-k share of k, not of the positive truth set",
          "return len(truth_set & _top_positive(shown, k)) / len(truth_set)",
          "return len(truth_set & _top_positive(shown, k)) / k"),
    truth("scores.py", "k = floor(n / 4), not ceil",
          "k = math.ceil(len(phi) / 4)", "k = len(phi) // 4"),
    truth("scores.py", "sign agreement counts only shown positives",
          "agree = _positive(shown) == _positive(truth)",
          "agree = _positive(shown) & _positive(truth)"),
    truth("scores.py", "distance = 1 - cosine, not the sine",
          "return math.sqrt(max(0.0, 1.0 - min(1.0, cosine) ** 2))",
          "return max(0.0, 1.0 - min(1.0, cosine))"),
    truth("scores.py", "truth's absolute value taken for its positive part",
          "positive = np.clip(phi, 0, None)", "positive = np.abs(phi)"),
    truth("scores.py", "spearman's interval bounded to [0, 1]",
          'BOUNDS = {"spearman": (-1.0, 1.0),', 'BOUNDS = {"spearman": (0.0, 1.0),'),
    # truth/ranking.py
    truth("ranking.py", "tied means share the best position, not the average",
          'method="average", axis=-1', 'method="min", axis=-1'),
    truth("ranking.py", "images undefined for one method kept",
          "keep = np.isfinite(matrix).all(axis=0)", "keep = np.isfinite(matrix).any(axis=0)"),
    truth("ranking.py", "overall place = median of the case ranks",
          "float(np.mean(point[method])), float(low), float(high), len(point[method])",
          "float(np.median(point[method])), float(low), float(high), len(point[method])"),
    truth("ranking.py", "bootstrap not paired (each method its own resample)",
          "sampled = _positions(matrix[:, picks].mean(axis=2).T, higher_is_better)",
          "sampled = _positions(np.stack([matrix[j, rng.integers(0, matrix.shape[1], "
          "picks.shape)].mean(axis=1) for j in range(len(matrix))], 1), higher_is_better)"),
    # truth/game.py
    truth("game.py", "grid read as (w, h)",
          "return (self.present.shape[-2], self.present.shape[-1])",
          "return (self.present.shape[-1], self.present.shape[-2])"),
    truth("game.py", "several baselines' values averaged in the wrong order",
          "return scores.view(n, baselines).mean(1)", "return scores.view(baselines, n).mean(0)"),
    # truth/shapley.py
    truth("shapley.py", "a grid of exactly 16 locations sampled, not exact",
          "if samples is None and n <= MAX_EXACT_PLAYERS:",
          "if samples is None and n < MAX_EXACT_PLAYERS:"),
    truth("shapley.py", "seed ignored",
          "generator = torch.Generator().manual_seed(0 if seed is None else seed)",
          "generator = torch.Generator().manual_seed(0)"),
    truth("shapley.py", "every image takes the first image's baseline activations",
          "chosen = given[b : b + 1] if len(given) > 1 else given", "chosen = given[:1]"),
    truth("shapley.py", "every image takes the first reference image",
          "return reference[b : b + 1] if len(reference) > 1 else reference",
          "return reference[:1]"),
    truth("shapley.py", "sampled v(all) and v(none) swapped",
          "ends[0], ends[1], False, used", "ends[1], ends[0], False, used"),
    # truth/leaderboard.py
    truth("leaderboard.py", "pixel maps max-pooled to the layer grid",
          "return F.adaptive_avg_pool2d(raw_maps[:, None].double(), grid)[:, 0]",
          "return F.adaptive_max_pool2d(raw_maps[:, None].double(), grid)[:, 0]"),
    # truth/leaderboard.py: the per-method checkpoint of a stopped run (written after its tests)
    truth("leaderboard.py", "a resumed case runs its finished methods again",
          "rows, finished = [], {row.method for row in done or []}",
          "rows, finished = [], set()", CHECKPOINT_TESTS),
    truth("leaderboard.py", "no checkpoint after a method",
          "        if checkpoint is not None:\n            checkpoint(rows)",
          "        if checkpoint is None:\n            checkpoint(rows)", CHECKPOINT_TESTS),
    truth("leaderboard.py", "the checkpoint outlives the finished case",
          '    (store / f"{name}.partial.json").unlink(missing_ok=True)\n', "", CHECKPOINT_TESTS),
    truth("leaderboard.py", "a checkpoint of other settings is resumed",
          "        if payload.get(\"key\") != key:\n            return None\n", "",
          CHECKPOINT_TESTS),
    truth("leaderboard.py", "a fresh run (no resume) reads an old checkpoint",
          "done = _load_partial(store, case.name, key) if resume else None",
          "done = _load_partial(store, case.name, key)", CHECKPOINT_TESTS),
]

# Issue 28's samplers, per-image streams and quasi-random tolerance: before their edge tests.
# test_sampling.py's sampler and tolerance tests, without its slow statistical ones (the
# 32-seed unbiasedness and the quasi-random tolerance study: 170 of its 200 s).
SAMPLER_TESTS = ("tests/methods/test_sampler_edges.py", *(
    f"tests/methods/test_sampling.py::test_{name}" for name in (
        "samplers_are_reproducible_with_a_seed", "an_image_gets_the_same_map_in_any_batch",
        "qmc_pixel_draws_are_a_latin_hypercube",
        "sobol_alpha_is_stratified_and_references_are_cycled",
        "antithetic_pairs_cancel_across_chunk_boundaries",
        "no_forward_has_more_than_batch_size_rows",
        "replicate_standard_error_equals_numpy_on_the_replicate_means",
        "tolerance_stops_early_and_stays_within_it")))  # fmt: skip


def sampling(file: str, name: str, old: str, new: str) -> Mutant:
    return Mutant("sampling", f"cams/{file}", name, old, new, SAMPLER_TESTS)


SAMPLING_WAVE = [
    # cams/estimators/samplers.py
    sampling("estimators/samplers.py",
             "an antithetic pair's index in its replicate ignores the unit",
             "return block % replicates, (block // replicates) * unit + offset",
             "return block % replicates, block // replicates + offset"),
    sampling("estimators/samplers.py", "rows dealt to replicates from position 0, not 1",
             "row = (position - 1).clamp(min=0)", "row = position.clamp(min=0)"),
    sampling("estimators/samplers.py", "Latin hypercube size per replicate rounded down",
             "per_replicate = -(-samples // replicates)", "per_replicate = samples // replicates"),
    sampling("estimators/samplers.py", "sobol-antithetic loses its antithetic pairs",
             'self.antithetic = sampler.endswith("antithetic")',
             'self.antithetic = sampler == "antithetic"'),
    sampling("estimators/samplers.py", "every replicate shares one scrambling",
             'seed = self.streams.seed(key[0], f"alpha-{key[1]}" if key[1] else "alpha")',
             'seed = self.streams.seed(key[0], "alpha")'),
    sampling("estimators/samplers.py", "antithetic uniform draws not mirrored (u, u)",
             "        return torch.where(flip.view(-1, *([1] * len(shape))), 1 - u, u)\n",
             "        return u\n"),
    sampling("estimators/samplers.py", "antithetic normal draws not negated",
             "return torch.where(flip.view(-1, *([1] * len(shape))), -z, z)", "return z"),
    sampling("estimators/samplers.py", "antithetic pairs (2, 3), (4, 5) instead of (1, 2), (3, 4)",
             "flip = (position > 0) & (position % 2 == 0)",
             "flip = (position > 1) & (position % 2 == 1)"),
    sampling("estimators/samplers.py", "Latin slopes not coprime with n (not a permutation)",
             "units = torch.tensor([a for a in range(1, n + 1) if math.gcd(a, n) == 1])",
             "units = torch.tensor(list(range(1, n + 1)))"),
    sampling("estimators/samplers.py", "Latin hypercube at the strata's midpoints (no jitter)",
             "out[rows] = (strata.view_as(v).to(v.dtype) + v) / n",
             "out[rows] = (strata.view_as(v).to(v.dtype) + 0.5) / n"),
    sampling("estimators/samplers.py",
             "Latin stratum by the row's position, not its index in the replicate",
             "step = within[rows].to(slope.device).view(-1, 1)",
             "step = (position[rows] - 1).to(slope.device).view(-1, 1)"),
    sampling("estimators/samplers.py", "a stratified reference may be the image itself",
             "picks = k + (k >= own).long()", "picks = k + (k > own).long()"),
    sampling("estimators/samplers.py", "references counted as if the image were always in the set",
             "count = len(images) - (own < len(images)).long()",
             "count = torch.full_like(own, len(images) - 1)"),
    # cams/estimators/streams.py
    sampling("estimators/streams.py", "streams keyed by the image's batch index, not its content",
             "return _hash(self.base_seed, self.keys[image], stream, position)",
             "return _hash(self.base_seed, image, stream, position)"),
    sampling("estimators/streams.py", "the call's generator ignored for the base seed",
             "base = int(torch.randint(2**SEED_BITS, (1,), generator=generator, device=device))",
             "base = int(torch.randint(2**SEED_BITS, (1,), device=device))"),
    sampling("estimators/streams.py", "stream name left out of the seed",
             "return _hash(self.base_seed, self.keys[image], stream, position)",
             "return _hash(self.base_seed, self.keys[image], position)"),
    # cams/estimators/reduce.py (Replicates)
    sampling("estimators/reduce.py", "replicate cells of different images overlap",
             "cell = image.cpu() * r + replicate_of(position.cpu(), r, self.unit)[0]",
             "cell = image.cpu() + replicate_of(position.cpu(), r, self.unit)[0]"),
    sampling("estimators/reduce.py", "RQMC variance of one replicate mean, not of their mean",
             "variance_of_mean = means.var(1, unbiased=True).sum(1) / self.replicates",
             "variance_of_mean = means.var(1, unbiased=True).sum(1)"),
    sampling("estimators/reduce.py", "RQMC error finite once any replicate has a sample",
             "empty = (self.counts == 0).any(1).to(error.device)",
             "empty = (self.counts == 0).all(1).to(error.device)"),
    # cams/estimators/base.py and runner.py
    sampling("estimators/base.py", "replicates also without tolerance (fixed counts lose strata)",
             "quasi = self.tolerance is not None and self.sampler in QUASI_RANDOM",
             "quasi = self.sampler in QUASI_RANDOM"),
    sampling("estimators/runner.py", "tolerance checked at unequal counts per replicate",
             "self.step = 1 if draws is None else draws.unit * draws.replicates",
             "self.step = 1 if draws is None else draws.unit"),
    sampling("estimators/runner.py", "accumulator deals antithetic pairs apart from the draws",
             "reducer = RunningMean(len(images), replicates, unit)",
             "reducer = RunningMean(len(images), replicates)"),
]

# Issue 27's new methods, fusion, drop-ins and dense-target metrics: before their edge tests.
PEER_EDGES = "tests/peers/test_peer_edges.py"
NEW_METHODS = (PEER_EDGES, "tests/methods/test_newer_methods.py")
# the quick files of each area (the golden agreement files take 150-180 s each)
DROPIN = (PEER_EDGES, "tests/peers/test_dropin_details.py")
TORCHCAM = (PEER_EDGES, *(f"tests/peers/test_compat_torchcam.py::test_{name}" for name in (
    "layercam_fusion_matches_torchcam", "metrics_match_torchcam",
    "misuse_is_refused_in_one_line")))  # fmt: skip
DENSE = (PEER_EDGES, *(f"tests/metrics/test_metrics_dense.py::test_{name}" for name in (
    "explain_functions_get_the_dense_target_of_their_rows",
    "explain_functions_get_the_detection_target_of_their_rows",
    "a_segmentation_target_without_a_class_is_refused")))  # fmt: skip


peers = partial(Mutant, "peers")  # peers(file, name, old, new, tests)


PEERS = [
    # cams/activation_cams.py (FEM), cams/eigen.py (signs, Seg-Eigen-CAM), cams/compose.py
    peers("cams/activation_cams.py", "FEM threshold with the sample standard deviation",
          "k * flat.std(dim=2, correction=0, keepdim=True)",
          "k * flat.std(dim=2, correction=1, keepdim=True)", NEW_METHODS),
    peers("cams/activation_cams.py", "FEM threshold without the channel mean",
          "threshold = flat.mean(dim=2, keepdim=True) + k * flat.std(",
          "threshold = k * flat.std(", NEW_METHODS),
    peers("cams/activation_cams.py", "FEM's default k = 1", "    k: float = 2.0\n",
          "    k: float = 1.0\n", NEW_METHODS),
    peers("cams/activation_cams.py", "FEM eigen_smooth projects A, not the terms w_k A^k",
          "self.options.k), activations)\n        raw = first_component(terms)",
          "self.options.k), activations)\n        raw = first_component(activations)",
          NEW_METHODS),
    peers("cams/eigen.py", "peak sign makes the smaller magnitude positive",
          "flat.amin(1).abs() > flat.amax(1).abs()", "flat.amin(1).abs() < flat.amax(1).abs()",
          NEW_METHODS),
    peers("cams/eigen.py", "faithcam sign by the first loading, not their sum",
          "loadings = top.sum(dim=1)", "loadings = top[:, 0]", NEW_METHODS),
    peers("cams/eigen.py", "Seg-Eigen-CAM without |G| (signed gradients)",
          'first_component(gradients.abs() * activations, sign="peak")',
          'first_component(gradients * activations, sign="peak")', NEW_METHODS),
    peers("cams/eigen.py", "Seg-Eigen-CAM signed by the faithcam rule, not the peak",
          'first_component(gradients.abs() * activations, sign="peak")',
          'first_component(gradients.abs() * activations, sign="faithcam")', NEW_METHODS),
    peers("cams/eigen.py", "peer-sign projection of the uncentred matrix",
          "centred = matrix - matrix.mean(axis=0)", "centred = matrix", NEW_METHODS),
    peers("cams/compose.py", "product fusion takes the minimum",
          "raw = minmax(torch.stack([_upsample(m, size) for m in maps]).prod(0))",
          "raw = minmax(torch.stack([_upsample(m, size) for m in maps]).amin(0))", NEW_METHODS),
    # compat/pytorch_grad_cam: metrics and utils
    peers("compat/pytorch_grad_cam/metrics/arcc.py", "coherency not mapped to [0, 1]",
          "return (batch_pearson_coherency(again, grayscale_cams) + 1) / 2",
          "return batch_pearson_coherency(again, grayscale_cams)", DROPIN),
    peers("compat/pytorch_grad_cam/metrics/arcc.py", "complexity = L1 sum, not mean",
          "return np.abs(flat).sum(axis=1) / flat.shape[1]", "return np.abs(flat).sum(axis=1)",
          DROPIN),
    peers("compat/pytorch_grad_cam/metrics/arcc.py", "ARCC's ROAD term not doubled",
          "road = np.clip(self.road(input_tensor, grayscale_cams, targets, model) * 2, 0, 1)",
          "road = np.clip(self.road(input_tensor, grayscale_cams, targets, model), 0, 1)",
          DROPIN),
    peers("compat/pytorch_grad_cam/metrics/perturbation_confidence.py",
          "Otsu mask keeps the threshold's own value",
          "kept = np.float32(as_bytes > otsu_threshold(as_bytes)) * 255",
          "kept = np.float32(as_bytes >= otsu_threshold(as_bytes)) * 255", DROPIN),
    peers("compat/pytorch_grad_cam/metrics/perturbation_confidence.py",
          "Otsu's between-class variance without the w1 factor",
          "between = (total * w0 - m0) ** 2 / (w0 * w1)", "between = (total * w0 - m0) ** 2 / w0",
          DROPIN),
    peers("compat/pytorch_grad_cam/metrics/cam_mult_image.py", "drop in confidence of the rise",
          "return np.maximum(-super().__call__(*args, **kwargs), 0)",
          "return np.maximum(super().__call__(*args, **kwargs), 0)", DROPIN),
    peers("compat/pytorch_grad_cam/utils/image.py", "scale_cam_image resizes to (W, H) as (H, W)",
          'size=(height, width), mode="bilinear"', 'size=(width, height), mode="bilinear"',
          DROPIN),
    peers("compat/pytorch_grad_cam/utils/image.py", "preprocess_image keeps uint8 at 0-255",
          "array = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array",
          "array = array.astype(np.float32) if array.dtype == np.uint8 else array", DROPIN),
    # compat/torchcam
    peers("compat/torchcam/methods.py", "normalize_maps scales the batch as one map",
          "dims = tuple(range(1, maps.ndim))", "dims = tuple(range(maps.ndim))", TORCHCAM),
    peers("compat/torchcam/methods.py", "fuse_cams averages the layers, not their maximum",
          "return torch.stack(resized).amax(dim=0)[:, 0]",
          "return torch.stack(resized).mean(dim=0)[:, 0]", TORCHCAM),
    peers("compat/torchcam/methods.py", "LayerCAM fusion scale tanh(m), not tanh(2m)",
          "return torch.tanh(2.0 * cam)", "return torch.tanh(cam)", TORCHCAM),
    peers("compat/torchcam/metrics.py", "Average Drop divided by the masked score",
          "((full - masked).clamp(min=0) / (full + 1e-7))",
          "((full - masked).clamp(min=0) / (masked + 1e-7))", TORCHCAM),
    peers("compat/torchcam/metrics.py", "a map is left out only when all of it is NaN",
          "keep = ~torch.isnan(cam).flatten(1).any(dim=1)",
          "keep = ~torch.isnan(cam).flatten(1).all(dim=1)", TORCHCAM),
    # metrics/scoring.py: dense targets of a subset of images
    peers("metrics/scoring.py", "a subset's segmentation target keeps every image's mask",
          "None if mask is None else mask[rows])", "None if mask is None else mask)", DENSE),
    peers("metrics/scoring.py", "a subset's segmentation classes of the first images",
          "return SegmentationTarget(bound.class_ids[rows],",
          "return SegmentationTarget(bound.class_ids[: len(rows)],", DENSE),
]

# Issue 24's studies stores, resume keys and file safety (group "stores") and issue 26's own-data
# evaluation, progress and friendly inputs (group "owndata"): written (and committed) before
# their edge-case tests; each area's first file (…_mutants.py) was added to its set after the
# "before" run (docs/mutation.md).
STUDIES = ("tests/studies/test_store_mutants.py", "tests/studies/test_study_store.py",
           "tests/studies/test_studies_fresh_sample.py",
           "tests/studies/test_weights_key.py", "tests/guarantees/test_study_keys.py",
           "tests/studies/test_study_units.py", "tests/studies/test_study_items.py",
           "tests/guarantees/test_studies.py")  # fmt: skip
# (test_cli_outputs.py without its warning test, which fails under the runner's -W ignore)
FILES = (*(f"tests/guarantees/test_cli_outputs.py::test_{name}" for name in (
    "inputs_sharing_a_stem_get_their_own_outputs", "non_finite_zero_or_negative_std_is_refused",
    "sparse_class_names_keep_their_ids", "mathtext_class_names_do_not_crash_compare",
    "huge_size_is_refused_before_any_work", "a_worker_error_is_one_line_without_its_traceback")),
    "tests/guarantees/test_security_files.py")  # fmt: skip
FILES = ("tests/guarantees/test_file_safety_mutants.py", *FILES)
ZIPS = ("tests/guarantees/test_file_safety_mutants.py", "tests/guarantees/test_security_files.py")


def stores(file: str, name: str, old: str, new: str, tests: tuple[str, ...] = STUDIES) -> Mutant:
    return Mutant("stores", file, name, old, new, tests)


STORES = [
    # studies/store_checks.py: the read-only checks and the row checksum
    stores("studies/store_checks.py", "row checksum without the input SHA-256",
           "text = \"\\x00\".join((image_id, method, metric, settings, exact, input_sha))",
           "text = \"\\x00\".join((image_id, method, metric, settings, exact))"),
    stores("studies/store_checks.py", "row checksum of the value to 6 significant digits",
           "math.isnan(value) else float(value).hex()",
           "math.isnan(value) else f\"{float(value):.6g}\""),
    stores("studies/store_checks.py", "checksums checked only where the value is not NULL",
           "f\"settings IN (SELECT key FROM study) AND checksum IS NOT {CHECKSUM_FUNCTION}(",
           "f\"value IS NOT NULL AND settings IN (SELECT key FROM study) AND checksum IS NOT "
           "{CHECKSUM_FUNCTION}("),
    stores("studies/store_checks.py", "schema check accepts extra trailing columns",
           "if columns != COLUMNS[table]:", "if columns[: len(COLUMNS[table])] != COLUMNS[table]:"),
    stores("studies/store_checks.py", "views, triggers and indexes of the store let through",
           "if kind != \"table\" or name not in COLUMNS",
           "if kind == \"table\" and name not in COLUMNS"),
    stores("studies/store_checks.py", "quick_check's findings ignored unless it says nothing",
           "if found != [\"ok\"]:", "if not found:"),
    stores("studies/store_checks.py", "a FIFO or device accepted as a store file",
           "if not stat.S_ISREG(mode):", "if stat.S_ISDIR(mode):"),
    stores("studies/store_checks.py", "a locked store is called damaged",
           "((\"locked\", \"busy\"),", "((\"busy\",),"),
    # studies/store.py
    stores("studies/store.py", "an image missing one row counts as done",
           "(settings, expected_rows))", "(settings, expected_rows - 1))"),
    stores("studies/store.py", "re-explaining an image deletes every row of the settings",
           "DELETE FROM results WHERE image_id = ? AND settings = ?",
           "DELETE FROM results WHERE image_id = ? OR settings = ?"),
    stores("studies/store.py", "stale curves of a re-explained image kept",
           "    \"DELETE FROM curves WHERE image_id = ? AND settings = ?\",\n", ""),
    stores("studies/store.py", "rows of other settings accepted in a store this study claimed",
           "            if other_rows:\n", "            if other_rows and not known:\n"),
    stores("studies/store.py", "a rank's curves are not merged",
           "            db.executemany(MERGE_CURVES, curves)\n", ""),
    stores("studies/store.py", "a settings difference named without its parent key",
           "name = f\"{prefix}.{key}\" if prefix else str(key)", "name = str(key)"),
    # studies/settings.py: what the resume key covers
    stores("studies/settings.py", "weights hash leaves non-persistent buffers out",
           "    tensors += [\n", "    _ = [\n"),
    stores("studies/settings.py", "model code hash without the modules' attributes",
           "json.dumps(attributes, sort_keys=True, default=repr),", "\"\","),
    stores("studies/settings.py", "model code hash without the fx graph",
           "str(graph) if isinstance(graph, torch.fx.Graph) else \"\",", "\"\","),
    stores("studies/settings.py", "model code hash changes with train / eval mode",
           "        attributes.pop(\"training\", None)\n", ""),
    stores("studies/settings.py", "item hash without the boxes",
           "for k in (\"target\", \"boxes\")}", "for k in (\"target\",)}"),
    stores("studies/settings.py", "tensor hash without the shape (a transposed image alike)",
           "digest.update(f\"{label}{data.dtype}|{tuple(tensor.shape)}|\".encode())",
           "digest.update(f\"{label}{data.dtype}|\".encode())"),
    stores("studies/settings.py", "folder hash without the file names",
           "digest.update(f\"{file.relative_to(path) if path.is_dir() else ''}|\".encode())",
           "digest.update(b\"|\")"),
    # studies/study.py: the resume checks
    stores("studies/study.py", "a fresh run outside torchrun ignores leftover rank files",
           "        if left:\n", "        if left and world > 1:\n"),
    stores("studies/study.py", "rank file number read one character early",
           "(int(p.name[len(path.name) + 5 :]), p)", "(int(p.name[len(path.name) + 4 :]), p)"),
    stores("studies/study.py", "removed images looked for the wrong way round",
           "gone = sorted(set(inputs) - set(ids))", "gone = sorted(set(ids) - set(inputs))"),
    stores("studies/study.py", "a done image passes when any of its stored hashes matches",
           "            if inputs.get(image_id) != {sha}\n",
           "            if sha not in inputs.get(image_id, {sha})\n"),
    stores("studies/study.py", "items that carry ids resume without the hash check",
           "        if self.filter_done:  # a done image", "        if False:  # a done image"),
    # outputs.py: the safe writer
    stores("outputs.py", "written through the final name (follows a planted link)",
           "        result = write(temporary)\n        os.replace(temporary, path)\n",
           "        os.unlink(temporary)\n        result = write(path)\n", FILES),
    stores("outputs.py", "temporary name keeps the whole output name (too long)",
           "f\".{name[:24]}.{secrets.token_hex(6)}.tmp{suffix}\"",
           "f\".{name}.{secrets.token_hex(6)}.tmp{suffix}\"", FILES),
    stores("outputs.py", "fit_name counts characters, not bytes",
           "if len(stem.encode()) + reserve <= NAME_MAX:", "if len(stem) + reserve <= NAME_MAX:",
           FILES),
    stores("outputs.py", "shortened names without their digest collide",
           "return f\"{start}~{digest}\"", "return f\"{start}~\"", FILES),
    # io/zip_layout.py
    stores("io/zip_layout.py", "duplicate names compared with case",
           "if name in seen or folded in seen:", "if name in seen:", ZIPS),
    stores("io/zip_layout.py", "prepended data accepted (entries start at the first offset)",
           "    cursor = 0\n    for entry in sorted(entries, key=lambda e: e.offset):",
           "    cursor = min((e.offset for e in entries), default=0)\n"
           "    for entry in sorted(entries, key=lambda e: e.offset):", ZIPS),
    stores("io/zip_layout.py", "'..' accepted in an entry name",
           "        or text.startswith(\"/\")\n        or \"..\" in parts\n",
           "        or text.startswith(\"/\")\n", ZIPS),
    stores("io/zip_layout.py", "zero sizes in a local header accepted without a descriptor",
           "not (flags & 0x0008 and local == (0,) * 3)", "not (local == (0,) * 3)", ZIPS),
]

PROGRESS = ("tests/engine/test_progress_inputs_mutants.py", "tests/engine/test_progress.py",
            "tests/engine/test_engine_messages_and_bounds.py")  # fmt: skip
INPUTS = ("tests/engine/test_progress_inputs_mutants.py", "tests/engine/test_friendly_inputs.py")
# (test_study.py without its two-process torchrun test, which fails unmutated on the loaded machine)
ITEMS = ("tests/studies/test_study_items_mutants.py", "tests/studies/test_study_items.py",
         "tests/studies/test_studies_fresh_sample.py",
         *(f"tests/studies/test_study.py::test_{name}" for name in (
             "sigkill_then_resume_gives_exactly_the_uninterrupted_rows",
             "resume_skips_done_images_and_never_duplicates", "unknown_metric_is_rejected",
             "resume_re_explains_only_the_missing_images")))  # fmt: skip
EVALUATE = ("tests/metrics/test_evaluate_mutants.py", "tests/metrics/test_metrics_evaluate.py",
            "tests/cli/test_cli_evaluate_protocol.py")  # fmt: skip
PROTOCOL = ("tests/cli/test_evaluate_protocol_mutants.py", "tests/cli/test_generated_text.py",
            "tests/cli/test_cli_evaluate_protocol.py")  # fmt: skip


def owndata(file: str, name: str, old: str, new: str, tests: tuple[str, ...]) -> Mutant:
    return Mutant("owndata", file, name, old, new, tests)


OWNDATA = [
    # engine/progress.py: the ETA and when the line shows
    owndata("engine/progress.py", "a seen kind's rate from the mean over all kinds",
            "            return self.seconds[kind] / self.units[kind]\n",
            "            return sum(self.seconds.values()) / sum(self.units.values())\n", PROGRESS),
    owndata("engine/progress.py", "no ETA for a kind not seen yet",
            "return sum(self.seconds.values()) / total if total > 0 else None", "return None",
            PROGRESS),
    owndata("engine/progress.py", "task in flight: rest not scaled by its fraction",
            "rest += spent * (1 - self._fraction) / self._fraction",
            "rest += spent * (1 - self._fraction)", PROGRESS),
    owndata("engine/progress.py", "the task in flight also counted among the remaining units",
            "            pending[kind] = max(0.0, pending.get(kind, 0.0) - units)\n", "", PROGRESS),
    owndata("engine/progress.py", "a task's fraction may move backwards",
            "self._fraction = min(1.0, max(self._fraction, float(value)))",
            "self._fraction = min(1.0, float(value))", PROGRESS),
    owndata("engine/progress.py", "shown only after 2 s elapsed (the ETA ignored)",
            "return elapsed >= SHOW_AFTER or (eta is not None and elapsed + eta > SHOW_AFTER)",
            "return elapsed >= SHOW_AFTER", PROGRESS),
    owndata("engine/progress.py", "dropped work stays in the total",
            "            self.total = max(0.0, self.total - units)\n", "", PROGRESS),
    owndata("engine/progress.py", "minutes not reduced modulo the hour",
            "minutes, secs = divmod(rest, 60)", "minutes, secs = divmod(whole, 60)", PROGRESS),
    owndata("engine/progress.py", "a nested loop moves its parent by steps, not their fraction",
            "parent.fraction(done[0] / total if total > 0 else 1.0)", "parent.fraction(done[0])",
            PROGRESS),
    owndata("engine/progress.py", "each unit charged the time since the start",
            "self.rates.add(kind, n, now - self.last_event)",
            "self.rates.add(kind, n, now - self.start)", PROGRESS),
    # engine/inputs.py: friendly inputs
    owndata("engine/inputs.py", "integer pixels divided by max + 1 (256 for uint8)",
            "float(np.iinfo(array.dtype).max)", "float(np.iinfo(array.dtype).max + 1)", INPUTS),
    owndata("engine/inputs.py", "RGBA keeps G, B, A instead of dropping alpha",
            "        pixels = pixels[:, :3]\n", "        pixels = pixels[:, 1:]\n", INPUTS),
    owndata("engine/inputs.py", "(B, H, W, C) pixels transposed to (B, C, W, H)",
            "np.ascontiguousarray(values)).permute(0, 3, 1, 2)",
            "np.ascontiguousarray(values)).permute(0, 3, 2, 1)", INPUTS),
    owndata("engine/inputs.py", "0-255 warning only above 255",
            "UNNORMALISED_MAX = 25.0", "UNNORMALISED_MAX = 255.0", INPUTS),
    owndata("engine/inputs.py", "[0, 1] pixels with a pixel at exactly 1 not warned",
            "float(images.amin()) >= 0 and largest <= 1:",
            "float(images.amin()) >= 0 and largest < 1:", INPUTS),
    owndata("engine/inputs.py", "channels-last looked for in dimension 2",
            "if len(shape) == 4 and shape[-1] == expected and given != expected:",
            "if len(shape) == 4 and shape[2] == expected and given != expected:", INPUTS),
    owndata("engine/inputs.py", "the last convolution checked, not the first",
            "                found = name, module\n                break\n",
            "                found = name, module\n", INPUTS),
    # studies/items.py
    owndata("studies/items.py", "an (image, label) pair's label ignored",
            "item = {\"image\": image, \"target\": label}", "item = {\"image\": image}", ITEMS),
    owndata("studies/items.py", "a selected batch keeps the first hashes",
            "\"sha256\": [batch[\"sha256\"][k] for k in keep],",
            "\"sha256\": batch[\"sha256\"][: len(keep)],", ITEMS),
    owndata("studies/items.py", "items that carry ids keyed by their index",
            "if len(dataset) == 0 or \"id\" in as_item(dataset[0], 0):",
            "if len(dataset) == 0:", ITEMS),
    owndata("studies/items.py", "an id repeated twice not refused",
            "repeated = [(i, n) for i, n in Counter(ids).items() if n > 1]",
            "repeated = [(i, n) for i, n in Counter(ids).items() if n > 2]", ITEMS),
    # metrics/evaluate.py: images without boxes, the progress work
    owndata("metrics/evaluate.py", "images without boxes dropped from every metric",
            "given = _annotated(run.boxes) if spec.needs_boxes else None",
            "given = _annotated(run.boxes)", EVALUATE),
    owndata("metrics/evaluate.py", "each metric's progress share over the metrics alone",
            "    share = len(images) / (1 + len(specs))\n",
            "    share = len(images) / max(1, len(specs))\n", EVALUATE),
    owndata("metrics/evaluate.py", "a re-explaining metric priced alike for every method",
            "return spec.name if spec.explains is None else f\"{spec.name} {method}\"",
            "return spec.name", EVALUATE),
    # cli/evaluate_items.py: the papers' protocol
    owndata("cli/evaluate_items.py", "a box without a class counts for no class",
            "if not label or wanted(label)", "if wanted(label)", PROTOCOL),
    owndata("cli/evaluate_items.py", "a class id equal to the class count accepted",
            "label.strip().isdigit() and int(label) < n_classes",
            "label.strip().isdigit() and int(label) <= n_classes", PROTOCOL),
    owndata("cli/evaluate_items.py", "every box counts for each annotated class",
            "_boxes_for(annotation, lambda other, lb=label: other == lb)",
            "_boxes_for(annotation, lambda other, lb=label: True)", PROTOCOL),
    owndata("cli/evaluate_items.py", "class names compared with their underscores",
            "re.sub(r\"[\\s_\\-]+\", \"\", name.strip().lower())",
            "re.sub(r\"[\\s\\-]+\", \"\", name.strip().lower())", PROTOCOL),
    # cli/evaluate_report.py: ranking and the words about it
    owndata("cli/evaluate_report.py", "near-ties (float rounding) get different places",
            "1 + sum(o < v and not _same(o, v) for o in score.values())",
            "1 + sum(o < v for o in score.values())", PROTOCOL),
    owndata("cli/evaluate_report.py", "places ignore the metric's direction",
            "m: math.inf if math.isnan(r[\"mean\"]) else sign * r[\"mean\"]",
            "m: math.inf if math.isnan(r[\"mean\"]) else r[\"mean\"]", PROTOCOL),
    owndata("cli/evaluate_report.py", "a method without a value (NaN) ranked among the others",
            "return (math.isnan(mean), sign * mean if not math.isnan(mean) else 0.0)",
            "return (False, sign * mean if not math.isnan(mean) else 0.0)", PROTOCOL),
    owndata("cli/evaluate_report.py", "higher-is-better separation from the mean, not the interval",
            "return best[\"ci_low\"] > other[\"ci_high\"]",
            "return best[\"mean\"] > other[\"ci_high\"]", PROTOCOL),
    owndata("cli/evaluate_report.py", "lower-is-better separation compares the lower ends",
            "return best[\"ci_high\"] < other[\"ci_low\"]",
            "return best[\"ci_low\"] < other[\"ci_low\"]", PROTOCOL),
    owndata("cli/evaluate_report.py", "overall order by the median place",
            "float(np.mean(p))", "float(np.median(p))", PROTOCOL),
    owndata("cli/evaluate_report.py", "images counted as explanations",
            "total_images = len({item.path for item in items})", "total_images = len(items)",
            PROTOCOL),
    owndata("cli/evaluate_report.py", "30 explanations still called provisional",
            "if largest < FEW:", "if largest <= FEW:", PROTOCOL),
    # cli/evaluate.py: images per metric
    owndata("cli/evaluate.py", "images per metric counted by explanation",
            "used.setdefault((method, metric), set()).add(image_of[image_id])",
            "used.setdefault((method, metric), set()).add(image_id)", PROTOCOL),
    owndata("cli/evaluate.py", "unscored (NaN) explanations counted as used images",
            "if value is not None and not math.isnan(value) and image_id in image_of:",
            "if image_id in image_of:", PROTOCOL),
]

MUTANTS: list[Mutant] = SURVIVORS + NEW + TRUTH + SAMPLING_WAVE + PEERS + STORES + OWNDATA
