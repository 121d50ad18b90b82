# The two commands of the README: `make book` builds the site, `make test` runs every check.
# Other targets: venv mathjax sync execute reference-timings smoke test-fast verify lint clean (`make help`).

PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
PY       := $(BIN)/python
PROFILE  ?= full
# Cores the build shares out, and notebooks executed at once: auto picks them from the cores and the reference
# timings (scripts/execute_notebooks.py); each notebook gets its share of the cores as workers.
CORES    ?= $(shell nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
JOBS     ?= auto
# A Ray cluster (HOST:PORT of its head) for every sweep of the build; also read from the environment.
RAY_ADDRESS ?=
EXECUTED := executed
# MathJax 3.2.2, as the pinned PyPI package django-static-mathjax ships it (requirements.txt)
MATHJAX  := book/_static/mathjax/tex-svg-full.js
STAMP    := $(VENV)/.alignbook-installed
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Retrained runs of `make verify`, and the seed that picks them
RUNS     ?= 20
SEED     ?= 0

.PHONY: help venv mathjax sync execute timings reference-timings book smoke test test-fast verify browser \
	lint clean

help:
	@echo "make book       install, execute every notebook (PROFILE=$(PROFILE)), build _build/html and its PDF"
	@echo "make test       package tests, then smoke runs of the notebooks, strict build and browser checks"
	@echo "make test-fast  the package tests that take seconds (no slow, book, ray or processes marks)"
	@echo "make verify     retrain RUNS=$(RUNS) runs behind the built site's tables and compare (SEED=$(SEED))"
	@echo "make smoke      the whole book with the small parameters of configs/smoke.yaml"
	@echo "make venv | mathjax | sync | execute | reference-timings | lint | clean"
	@echo "make book RAY_ADDRESS=HOST:PORT trains every sweep of the build on that Ray cluster"

# Pinned environment, with the optional Ray backend so that its tests run. Skipped when the requirement files
# and pyproject.toml are unchanged since the last install.
venv:
	@hash=$$(cat requirements.txt requirements-ray.txt pyproject.toml | sha256sum | cut -d' ' -f1); \
	if [ -x $(PY) ] && [ "$$(cat $(STAMP) 2>/dev/null)" = "$$hash" ]; then \
	  echo "venv: up to date"; \
	else \
	  set -e; \
	  [ -x $(PY) ] || $(PYTHON) -m venv $(VENV); \
	  $(PY) -m pip install --quiet -r requirements.txt -r requirements-ray.txt; \
	  $(PY) -m pip install --quiet -e ".[ray]"; \
	  $(PY) -m ipykernel install --sys-prefix --name alignbook --display-name "Python (alignbook)" >/dev/null; \
	  echo "$$hash" > $(STAMP); \
	  echo "venv: installed requirements.txt, requirements-ray.txt and alignbook into $(VENV)"; \
	fi

# MathJax served from the site itself, so equations render offline: one self-contained file and its licence,
# copied from the pinned Python package (its importable name is `mathjax`).
mathjax: $(MATHJAX)

$(MATHJAX): requirements.txt | venv
	mkdir -p $(dir $@)
	$(PY) -c "import mathjax, pathlib, shutil, sys; \
	source = pathlib.Path(mathjax.__file__).parent / 'static' / 'mathjax'; \
	shutil.copyfile(source / 'es5' / 'tex-svg-full.js', sys.argv[1]); \
	shutil.copyfile(source / 'LICENSE', sys.argv[2])" $@ $(dir $@)LICENSE

# Keep notebooks/NN_name.md and notebooks/NN_name.ipynb identical in content.
sync: venv
	$(BIN)/jupytext --sync notebooks/*.md

# Execute every notebook with papermill into $(EXECUTED)/ (skipped when nothing it depends on changed), JOBS at
# a time, each with its share of the CORES; with RAY_ADDRESS, every notebook's sweeps go to that cluster.
execute: venv sync
	$(PY) scripts/execute_notebooks.py --profile $(PROFILE) --out $(EXECUTED) --jobs $(JOBS) --cores $(CORES) \
	  $(if $(strip $(RAY_ADDRESS)),--ray-address $(strip $(RAY_ADDRESS)))

timings:
	$(PY) scripts/timings_table.py $(EXECUTED)/manifest.json book/_generated/timings.md

# The committed tables of the published build: run after `make book` from an empty run cache. The second
# table re-executes every notebook with the runs that build cached.
reference-timings:
	$(PY) scripts/timings_table.py $(EXECUTED)/manifest.json book/reference_timings.md --reference
	$(PY) scripts/execute_notebooks.py --profile $(PROFILE) --out $(EXECUTED) --force --jobs $(JOBS) \
	  --cores $(CORES)
	$(PY) scripts/timings_table.py $(EXECUTED)/manifest.json book/reference_timings_warm.md --reference --warm

# The site, then the same pages printed by headless Chromium into one PDF (_build/html/alignbook.pdf).
book: venv mathjax browser sync execute timings
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(PY) scripts/book_pdf.py _build/html
	@echo "Open $(CURDIR)/_build/html/index.html"

smoke:
	$(MAKE) book PROFILE=smoke

# Headless Chromium and its driver for the PDF and the browser checks: the only system packages (Debian).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "browser: chromium present"; \
	else echo "browser: installing the Debian packages chromium and chromium-driver" \
	  "with apt-get$(if $(SUDO), through sudo)"; \
	$(SUDO) apt-get update && $(SUDO) apt-get install -y chromium chromium-driver; fi

# Tests never use a cluster: RAY_ADDRESS is removed from their environment.
test: venv mathjax browser lint
	env -u RAY_ADDRESS $(BIN)/pytest -m "not book"
	env -u RAY_ADDRESS $(BIN)/pytest -m book

test-fast: venv
	env -u RAY_ADDRESS $(BIN)/pytest -m "not slow and not book and not ray and not processes" -q

# Retrain a seeded sample of the runs behind the built site's tables from their published configurations.
verify: venv
	$(PY) scripts/verify_runs.py _build/html --runs $(RUNS) --seed $(SEED)

lint: venv
	$(BIN)/ruff check alignbook tests scripts book/_ext
	$(BIN)/jupytext --check "$(CURDIR)/$(BIN)/ruff check --quiet --ignore E402,E501,B018 {}" notebooks/*.md

# Removes build outputs; keeps the environment and the cache of expensive results (.cache/alignbook).
clean:
	rm -rf _build $(EXECUTED) book/_generated
