# Two commands on a fresh machine with Python 3.11+ and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app kapclinic

.PHONY: run serve worker stack test test-unit test-fast lint format install install-test migrate demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

# The test extras, and axe-core for the browser tests at the version and hash its lock file names.
$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml tests/e2e/package-lock.json
	$(BIN)/pip install --quiet -e '.[test]'
	npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

migrate: install
	$(FLASK) db upgrade

demo: migrate
	$(FLASK) demo-data

run: demo
	@echo "kapclinic: http://127.0.0.1:5000  (emails are written to instance/mail/ unless MAIL_SERVER is set)"
	$(FLASK) run --host 127.0.0.1 --port 5000

# Production-style serving: gunicorn workers and the delivery worker, configured by the
# environment (KAPCLINIC_CONFIG=production, DATABASE_URL, REDIS_URL, ...; see README).
# Migrations run first; readiness (/readyz) stays 503 until they have.
serve: install
	$(FLASK) db upgrade
	$(BIN)/gunicorn -c python:kapclinic.ops.gunicorn_conf wsgi:app

worker: install
	$(FLASK) worker

# The production-shaped stack the deployed tests use, to try by hand: nginx with a throwaway TLS
# certificate on a free port -> gunicorn (production config, 2 workers) -> a new PostgreSQL database
# and a Redis server of its own, and `flask worker` sending to an SMTP server on loopback that saves
# each email as .eml. It prints the https:// address, the staff logins and the mail folder; Ctrl-C
# stops it and drops the database. Needs nginx and redis-server installed, and PostgreSQL as for `make test`.
stack: install-test
	$(BIN)/python -m tests.deployed.stack

LINTED := kapclinic tests bench config.py wsgi.py

test: lint
	$(BIN)/python -m pytest -n 2

# Style (ruff's rule families and formatter) and the layers (import-linter's contracts in pyproject.toml).
lint: install-test
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/lint-imports

format: install-test
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

# The pure logic alone (slot engine, instruments, screening, FHIR, chains, CSV): no database,
# server or browser, in seconds. `make test` runs these too.
test-fast: install-test
	$(BIN)/python -m pytest tests/unit -q

test-unit: test-fast

bench: install-test
	$(BIN)/python bench/results.py
	$(BIN)/python bench/bench_course_plan.py --write

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
