# Two commands a newcomer needs: `make run` and `make test`. Everything else is a
# step they call, usable on its own. Each step skips what is already up to date.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY      := .venv/bin/python
BOT     := .venv-bot/bin
RASA    := PYTHONPATH=$(CURDIR) $(BOT)/rasa
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Rasa would otherwise send usage data and crash reports to its servers.
export RASA_TELEMETRY_ENABLED := false
export PYTHONPATH := $(CURDIR)

RASA_SOURCES := $(shell find bot data/nlu data/stories data/rules -name '*.yml' -o -name '*.py' 2>/dev/null) \
                bot/config.yml
SEED_STAMP   := var/.seeded
ENCODER      := models/encoder/model.onnx
SCORING      := models/scoring/current
INDEX        := models/index/current
RASA_STAMP   := models/rasa/.trained
DATA         ?= ../shared/data/bitext_customer_support/dev.csv

.PHONY: help setup seed reseed models run test test-fast lint eval retrain rollback bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# ---- environments -----------------------------------------------------------------
setup: .venv/.stamp .venv-bot/.stamp web/node_modules/.stamp  ## build both Python environments and the widget's JS

.venv/.stamp: requirements/app.txt requirements/torch.txt scripts/setup_envs.sh
	scripts/setup_envs.sh app
	touch $@

.venv-bot/.stamp: requirements/bot.txt scripts/setup_envs.sh
	scripts/setup_envs.sh bot
	touch $@

web/node_modules/.stamp: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# ---- data and models --------------------------------------------------------------
seed: setup  ## create and seed the CRM store once (SQLite under var/ by default)
	$(PY) -m crm_models.store.seed --if-unseeded
	@test -f $(SEED_STAMP) || touch $(SEED_STAMP)

reseed: setup  ## empty the CRM store and seed it again as of today (loses its data)
	$(PY) -m crm_models.store.seed --force
	touch $(SEED_STAMP)

$(SEED_STAMP):
	$(PY) -m crm_models.store.seed --if-unseeded
	touch $@

models: seed $(ENCODER) $(SCORING) $(INDEX) $(RASA_STAMP)  ## train whatever is not trained yet

$(ENCODER): crm_models/recommend/export_onnx.py
	$(PY) -m crm_models.recommend.export_onnx --out models/encoder

$(SCORING): $(SEED_STAMP) $(wildcard crm_models/scoring/*.py)
	$(PY) -m crm_models.scoring.train

$(INDEX): $(SEED_STAMP) $(wildcard crm_models/recommend/*.py)
	$(PY) -m crm_models.recommend.build_index

# The first model is trained and promoted; after that a change of the training inputs
# goes through the same quality gate as `make retrain` (refused: the old model stays).
$(RASA_STAMP): $(RASA_SOURCES) $(ENCODER)
	$(PY) -m crm_models.training.rasa_models ensure
	touch $@

# ---- running ------------------------------------------------------------------------
run: models  ## set up everything and run the assistant (Ctrl-C stops it)
	scripts/run.sh

# ---- checking -----------------------------------------------------------------------
test: models  ## set up everything and run every test
	scripts/check_services.sh
	scripts/install_browser.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(RASA) data validate --config bot/config.yml --domain bot/domain --data data
	$(BOT)/python -m pytest tests/bot -q
	$(RASA) test core --model models/rasa/shop.tar.gz --stories tests/bot/test_stories.yml \
	    --out reports/rasa-test --fail-on-prediction-errors
	$(PY) -m pytest tests -q --ignore=tests/bot

test-fast: setup  ## unit tests only (no Rasa model, no servers)
	$(PY) -m pytest tests -q --ignore=tests/bot -m "not e2e and not rasa"

lint: setup  ## ruff check and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

eval: models  ## intent accuracy / fallback on a CSV with text,intent: make eval DATA=path.csv
	$(BOT)/python -m bot.evaluate --model models/rasa/shop.tar.gz --data $(DATA)

bench: models  ## scoring, recommendation and latency benchmark -> reports/bench.md (QUICK=1: small sizes)
	$(PY) -m crm_models.bench $(if $(QUICK),--quick,)

# Not `models`: that would already retrain Rasa (without ARGS) when the data changed.
retrain: seed $(ENCODER) $(SCORING) $(INDEX)  ## feedback in, retrain, promote what passes the gate (ARGS=--finetune)
	$(PY) -m crm_models.training.retrain $(ARGS)

rollback: setup  ## serve the models that were live before the last promotion
	$(PY) -m crm_models.training.rollback $(ARGS)

clean:  ## remove build output (models/, reports/); keeps var/ (your data)
	rm -rf models reports results .rasa
