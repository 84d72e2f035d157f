# harlab: two commands on a fresh machine.
#   make demo  -> set up .venv and train DanHAR on UCI HAPT (short demo run)
#   make test  -> set up .venv and run lint, the docs build, the architecture contracts and the
#                 whole suite
#   make docs  -> build the documentation site into site/ (mkdocs --strict: a broken link or
#                 API reference fails)
#   make test-fast -> the same without the tests that train models (the inner loop)
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.harlab-installed

.PHONY: setup demo test test-fast lint docs bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (harlab needs Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first: 2.13.0 is the local CPU build; the package's torch range is satisfied by it.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	# BasicMotions ships inside the aeon wheel; fetch the wheel only (aeon's pins clash with ours).
	$(PY) -m pip download -q --no-deps aeon==1.6.0 -d $(VENV)/share/harlab/wheels \
	  || echo "warning: could not fetch the aeon wheel; BasicMotions needs --path"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/harlab train configs/demo.yaml

test: lint docs
	$(PY) -m pytest -q --durations=15

test-fast: lint
	$(PY) -m pytest -q -m "not slow" --durations=10

# the rules CI enforces (pyproject [tool.ruff.lint]); the code is wrapped by hand at 100
# columns, not by `ruff format`, so a format check would fail on style alone
lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

# the site (mkdocs.yml); --strict turns every warning (broken link, anchor, unresolved API
# reference, page outside the nav) into a failure. Builds offline: no web fonts, no plugins
# that fetch.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet -d site

bench: setup
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build site *.egg-info src/*.egg-info
