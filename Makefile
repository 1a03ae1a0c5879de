# SQLAgent: `make run` to serve, `make test` to run every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: install system-deps services env run test test-fast lint format bench bench-concurrency load clean

system-deps:
	@bash .ci/system-deps.sh

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

install: system-deps $(BIN)/.installed

services:
	@bash .ci/services.sh

# A fresh checkout has no .env: make one with freshly generated secrets.
.env:
	$(BIN)/python -m sqlagent_project.envfile .env.example .env

env: install .env

run: env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@$(BIN)/python manage.py llm_status
	@echo "Serving on http://127.0.0.1:$(PORT)/"
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: install services
	$(BIN)/python -m pytest

# The edit-test loop: everything but subprocess servers and the browser, in
# parallel: one pytest-xdist worker per core (at most 4), each on databases of
# its own (README, Set-up); a worker that runs out of tests takes some of
# another's (worksteal: a few tests wait seconds on purpose). TEST_WORKERS=0
# runs it in one process.
TEST_WORKERS ?= auto
test-fast: install services
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxprocesses 4 --dist worksteal \
		-m "not slow and not browser"

# pytest keeps its assertion-rewritten test modules in __pycache__ (ignored by
# git), unless writing bytecode is turned off: then every run parses all 600 of
# them again, some 10 s of CPU per worker.
test test-fast: export PYTHONDONTWRITEBYTECODE =

# 50 users against gunicorn (2 workers) and a stub LLM answering after 1 s, for
# 30 s; fails on any error or on an answer from another user's database.
load: install services
	$(BIN)/python -m bench.load

# One table of side-by-side measurements (also saved to bench/results/latest.md).
bench: install services
	$(BIN)/python -m bench.run

# N users asking at once (10, 50, 200, 500) with the model answering after 1 s
# and 3 s, against the README's production gunicorn; about 10 minutes.
bench-concurrency: install services
	$(BIN)/python -m bench.concurrency

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# The Django plugin imports the settings, which need these two (any value).
	SECRET_KEY=$${SECRET_KEY:-mypy-not-a-secret} \
	FIELD_ENCRYPTION_KEY=$${FIELD_ENCRYPTION_KEY:-Y2Y5N2E0NjQ0ZDQ3NDc3ZmE3ZTBiZWI1YjYxZTFlM2M=} \
	$(BIN)/mypy .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles test-artifacts
