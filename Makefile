# lvsweb — the two commands: `make run` (the console on http://127.0.0.1:8000) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/lvsweb
# Tests use their own Redis database, so that they never see a running console's queues.
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-fast test-browser test-lab lint format venv dev lock bench-agent bench-apply bench-console bench-import clean help agent-bundle

help:
	@echo "make run        the console on http://127.0.0.1:8000 (daphne, Celery worker and beat; Ctrl-C stops)"
	@echo "make test       lint, Django checks, the test suite on PostgreSQL, and the lab tests in a VM"
	@echo "make test-fast  the same without the lab VM (the browser tests included)"
	@echo "make test-browser  only the browser tests (Playwright driving Debian's Chromium)"
	@echo "make test-lab   only the lab tests (real kernel under qemu)"
	@echo "make test-fullstack  console + control worker here, three agents in the lab VM"
	@echo "make format     ruff format + autofix"
	@echo "make agent-bundle  the agent's wheel and locked dependencies, served at /agent/download/ for hosts"
	@echo "make bench-agent  the agent benchmark in the lab VM (see docs/performance.md)"
	@echo "make bench-apply  apply latency: API call to the director's kernel, console here, agent in the lab VM"
	@echo "make bench-console  every page and API list at 20 clusters x 500 services x 10 real servers (PostgreSQL)"
	@echo "make bench-import   bulk import of a large site (1,200 objects) and creating through the API (PostgreSQL)"

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "lvsweb needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) -V 2>&1). Use: make PYTHON=python3.11 ..."; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { echo "Could not create a virtualenv: apt-get install python3-venv"; exit 1; }
	@touch $@

# Runtime dependencies only (what `make run` needs).
# Front-end libraries (htmx, uPlot) from npm, exactly as locked in package-lock.json.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "The console's front-end libraries come from npm: apt-get install npm"; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV)/.installed: $(VENV)/.python-ok requirements.lock pyproject.toml agents/pyproject.toml node_modules/.installed
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements.lock
	@# A new virtualenv may come with a setuptools too old to build the project (pyproject asks for >= 69).
	$(VENV)/bin/pip install --quiet "setuptools>=69" wheel
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e agents -e .
	@touch $@

# Runtime + development dependencies (tests, linters, the lab).
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-dev.lock
	@touch $@

venv: $(VENV)/.installed
dev: $(VENV)/.installed-dev

run: venv
	@scripts/run

# The agent's wheel and its locked dependency wheels in var/agent-bundle/, which the console serves at
# /agent/download/ for hosts without a package index (docs/operating.md, "Install the agent").
agent-bundle: venv
	$(PY) manage.py build_agent_bundle

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test-fast: lint
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest -m "not lab" --create-db

# The browser tests also run in test-fast; this target runs only them (needs `apt-get install chromium`).
test-browser: dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest tests/browser --create-db

test-lab: dev
	scripts/lab/run-tests

# Console and control worker here, three agents in the lab VM reaching Redis and the console through
# restricted forwards (tests/lab_fullstack): its own Redis database, so that no other test sees its queues.
test-fullstack: dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=redis://127.0.0.1:6379/13 $(VENV)/bin/pytest -m lab tests/lab_fullstack

test: test-fast test-lab test-fullstack

# Re-pin the dependencies (after a change to a pyproject.toml): the console's locks, then the agent's, held to
# the console's versions so that the agent runs on hosts what the console tests with.
lock: dev
	$(VENV)/bin/pip-compile -q --allow-unsafe --generate-hashes --strip-extras --output-file=requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile -q --allow-unsafe --extra=dev --generate-hashes --strip-extras --output-file=requirements-dev.lock pyproject.toml
	mkdir -p var && grep -o '^[A-Za-z0-9._-]*==[^ ]*' requirements.lock > var/console-pins.txt
	cd agents && ../$(VENV)/bin/pip-compile -q --allow-unsafe --generate-hashes --strip-extras \
	  --constraint=../var/console-pins.txt --output-file=requirements.lock pyproject.toml

bench-agent: dev
	scripts/lab/vm-run $(PY) bench/agent_apply.py

# Console and control worker here (a throw-away database next to TEST_DATABASE_URL's), the director's agent in
# the lab VM; its own Redis database for the broker.
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/12
bench-apply: dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/apply_latency.py --json var/apply-latency.json

# The console at scale (docs/performance.md, "Console at scale"): a throw-away database next to
# TEST_DATABASE_URL's, seeded in a few minutes; CONSOLE_BENCH_ARGS e.g. "--clusters 5 --keep" or "--reuse".
CONSOLE_BENCH_ARGS ?=
bench-console: dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/console_scale.py \
	  --json var/console-scale.json $(CONSOLE_BENCH_ARGS)

bench-import: dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/import_scale.py \
	  --json var/import-scale.json $(IMPORT_BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
