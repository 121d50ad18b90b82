# The two commands of the README: `make book` builds the site, `make test` runs every check.
# Other targets: venv mathjax sync execute reference-timings smoke lint clean (see `make help`).

PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
PY       := $(BIN)/python
PROFILE  ?= full
JOBS     ?= 2
EXECUTED := executed
MATHJAX_VERSION := 3.2.2
MATHJAX  := book/_static/mathjax/tex-svg-full.js
NPM_DIR  := .cache/npm
STAMP    := $(VENV)/.alignbook-installed
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help venv mathjax sync execute timings reference-timings book smoke test browser lint clean

help:
	@echo "make book   install, execute every notebook (PROFILE=$(PROFILE)), build _build/html and its PDF"
	@echo "make test   package tests, then smoke runs of the notebooks, strict build and browser checks"
	@echo "make smoke  the whole book with the small parameters of configs/smoke.yaml"
	@echo "make venv | mathjax | sync | execute | reference-timings | lint | clean"

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

# MathJax served from the site itself, so equations render offline. One self-contained file.
mathjax: $(MATHJAX)

$(MATHJAX):
	npm install --silent --no-save --no-audit --no-fund --prefix $(NPM_DIR) mathjax@$(MATHJAX_VERSION)
	mkdir -p $(dir $@)
	cp $(NPM_DIR)/node_modules/mathjax/es5/tex-svg-full.js $@
	cp $(NPM_DIR)/node_modules/mathjax/LICENSE $(dir $@)LICENSE

# Keep notebooks/NN_name.md and notebooks/NN_name.ipynb identical in content.
sync: venv
	$(BIN)/jupytext --sync notebooks/*.md

# Execute every notebook with papermill into $(EXECUTED)/ (skipped when nothing it depends on changed), $(JOBS)
# at a time: one notebook's analysis and plots run on one core while the other's sweep uses the second.
execute: venv sync
	$(PY) scripts/execute_notebooks.py --profile $(PROFILE) --out $(EXECUTED) --jobs $(JOBS)

timings:
	$(PY) scripts/timings_table.py $(EXECUTED)/manifest.json book/_generated/timings.md

# The committed tables of the published build: run after `make book` from an empty run cache. The second
# table re-executes every notebook with the runs that build cached.
reference-timings:
	$(PY) scripts/timings_table.py $(EXECUTED)/manifest.json book/reference_timings.md --reference
	$(PY) scripts/execute_notebooks.py --profile $(PROFILE) --out $(EXECUTED) --force --jobs $(JOBS)
	$(PY) scripts/timings_table.py $(EXECUTED)/manifest.json book/reference_timings_warm.md --reference --warm

# The site, then the same pages printed by headless Chromium into one PDF (_build/html/alignbook.pdf).
book: venv mathjax browser sync execute timings
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(PY) scripts/book_pdf.py _build/html
	@echo "Open $(CURDIR)/_build/html/index.html"

smoke:
	$(MAKE) book PROFILE=smoke

# Headless Chromium and its driver for the browser checks (Debian packages).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "browser: chromium present"; \
	else $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium chromium-driver; fi

test: venv mathjax browser lint
	$(BIN)/pytest -m "not book"
	$(BIN)/pytest -m book

lint: venv
	$(BIN)/ruff check alignbook tests scripts
	$(BIN)/jupytext --check "$(CURDIR)/$(BIN)/ruff check --quiet --ignore E402,E501,B018 {}" notebooks/*.md

# Removes build outputs; keeps the environment and the cache of expensive results (.cache/alignbook).
clean:
	rm -rf _build $(EXECUTED) book/_generated
