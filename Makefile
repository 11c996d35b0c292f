# The two commands of the README: `make run` and `make test` (and `make bench`).
# Each bootstraps .venv (once, and again when pyproject.toml changes) and checks system libraries.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
PYTEST := $(PY) -m pytest
# pip on some machines warns about every missing local index folder; keep real errors visible.
QUIET  := 2>&1 | { grep -v "^WARNING: Location" || true; }

.PHONY: run test test-fast test-gl bench syscheck screenshots clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip $(QUIET)

$(VENV)/.stamp-run: pyproject.toml | $(PY)
	$(PIP) install --quiet -e . $(QUIET)
	@touch $@

$(VENV)/.stamp-test: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[test]" $(QUIET)
	@touch $@ $(VENV)/.stamp-run

$(VENV)/.stamp-bench: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[test,bench]" $(QUIET)
	@touch $@ $(VENV)/.stamp-test $(VENV)/.stamp-run

syscheck: | $(PY)
	@$(PY) -m lab_app.syscheck

run: $(VENV)/.stamp-run syscheck
	$(PY) main.py

# The Qt boundary first (import-linter contracts in pyproject.toml), then widgets and everything
# else offscreen; the OpenGL views under Xvfb (pytest-xvfb starts it).
test: $(VENV)/.stamp-test
	@$(PY) -m lab_app.syscheck --test
	$(VENV)/bin/lint-imports --no-logo
	QT_QPA_PLATFORM=offscreen $(PYTEST) -p no:xvfb -m "not gl" -q
	QT_QPA_PLATFORM=xcb $(PYTEST) -m gl -q

test-fast: $(VENV)/.stamp-test
	QT_QPA_PLATFORM=offscreen $(PYTEST) -p no:xvfb -m "not gl and not slow" -q

bench: $(VENV)/.stamp-bench
	@for b in $$($(PY) -m benchmarks list); do echo "== $$b"; $(PY) -m benchmarks $$b --json --repeat 3 || true; done

screenshots: $(VENV)/.stamp-run
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) main.py --screenshot docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis out
