# The commands of the README:
#   make demo   try it without Slack: the real bot plays a scripted day and week (no tokens)
#   make run    start the bot (creates .venv, .env and sla.toml on first use)
#   make test   run the whole test suite
# Options reach the command through ARGS, e.g. make demo ARGS="--language en".
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo run test lint install

$(BIN)/sla-bot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/sla-bot

.env:
	cp .env.example .env
	@echo "Created .env from .env.example: put your Slack tokens in it."

sla.toml:
	cp sla.example.toml sla.toml
	@echo "Created sla.toml from sla.example.toml: adjust channels, people and numbers."

demo: install
	$(BIN)/sla-bot demo $(ARGS)

run: install .env sla.toml
	$(BIN)/sla-bot run $(ARGS)

test: install
	$(BIN)/pytest $(ARGS)

lint: install
	$(BIN)/ruff check .
