# Two commands set everything up from a fresh clone:
#   make demo   creates .venv, installs requirements.txt, plans a demo forecast
#   make test   creates .venv, installs requirements.txt, runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := out/demo

.PHONY: setup demo test bench format

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python -m solver generate --tours 400 --seed 1 --out $(DEMO)/forecast.csv
	$(BIN)/python -m solver plan $(DEMO)/forecast.csv --out $(DEMO)/plan --time-limit 60

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m solver bench --out bench-out/week_1385_tours

format: setup
	$(BIN)/ruff format .
