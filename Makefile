# Three commands set everything up from a fresh clone:
#   make run    creates .venv, installs requirements.txt, serves the workbench
#   make demo   creates .venv, installs requirements.txt, plans a demo forecast
#   make test   creates .venv, installs requirements.txt, runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := out/demo
# The browser test drives this Chromium through Playwright and never downloads
# a browser of its own. `make browser` installs Debian's package.
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup run demo test security browser bench format

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/python serve.py

demo: setup
	$(BIN)/python -m solver generate --tours 400 --seed 1 --out $(DEMO)/forecast.csv
	$(BIN)/python -m solver plan $(DEMO)/forecast.csv --out $(DEMO)/plan --time-limit 60

test: setup
	@test -x $(CHROMIUM) || echo "$(CHROMIUM) is missing, so the browser test" \
		"is skipped (it fails when CI=true); 'make browser' installs it as root"
	SOLVEREIGN_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

# The security suite alone (tests/security_suite.py lists its files).
security: setup
	SOLVEREIGN_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -m security

# Installs Debian's chromium package unless $(CHROMIUM) exists; needs root.
browser:
	@test -x $(CHROMIUM) || (apt-get update \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

bench: setup
	$(BIN)/python -m solver bench --out bench-out

format: setup
	$(BIN)/ruff format .
