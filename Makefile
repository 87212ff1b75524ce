# The README's commands. Every target creates .venv and installs what it needs on a fresh machine.
# torch is pinned to the CPU wheel this environment caches; users of the package bring any torch 2.x.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: install test lint docs package compare demo bench-guard clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev,lab]" "$(TORCH_PIN)"
	# test-only: timm's loss files (tests/test_timm_losses.py); --no-deps keeps torch pinned (timm pulls torchvision)
	$(PY) -m pip install -q --no-deps timm
	touch $(STAMP)

install: $(STAMP)

## run the tests (what CI runs)
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src/losskit

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e ".[docs]" "$(TORCH_PIN)"
	touch $(DOCS_STAMP)

## the documentation site (docs/_build/html/index.html); warnings are errors; -E: a fresh environment, so a
## warning of an unchanged page is never hidden by the previous build
docs: $(DOCS_STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html

## the release checks: sdist and wheel, twine check, the wheel in a fresh venv without the extras
package: $(STAMP)
	.ci/package-smoke

## the main job: which loss for this data set? (trains with each candidate, writes losskit-out/report.html)
compare: $(STAMP)
	$(PY) -m losskit compare --dataset digits

## a small model trained with losskit losses, loss going down
demo: $(STAMP)
	$(PY) -m losskit demo

## guard-layer overhead figure quoted in the README
bench-guard: $(STAMP)
	$(PY) -m losskit bench-guard

clean:
	rm -rf $(VENV) build dist src/*.egg-info docs/_build docs/_generated
