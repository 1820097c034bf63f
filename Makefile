# `make run` and `make test` work on a fresh clone with Python 3.11+ and make.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint contracts typecheck catalogs catalogs-update check-catalogs bench clean

# Installs are reproducible: every package at the version of the lock file (requirements.lock, made by
# `make lock` from pyproject.toml), then the project itself without resolving anything again.
LOCK := requirements.lock

$(STAMP): pyproject.toml $(LOCK)
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@$(PY) -m pip check >/dev/null || { $(PY) -m pip check; \
		echo "pyproject.toml asks for something $(LOCK) does not have: run 'make lock'"; exit 1; }
	@touch $(STAMP)

# After adding or changing a dependency in pyproject.toml: the lock again, keeping every other pin as it is
# (`make lock UPGRADE=1` moves everything to the newest versions pyproject.toml allows).
.PHONY: lock
lock:
	@test -x $(VENV)/bin/uv || { test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PY) -m pip install --quiet uv; }
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) --quiet -o $(LOCK)

.env:
	cp .env.example .env

catalogs: $(STAMP)
	$(PY) -m tools.catalogs compile

catalogs-update: $(STAMP)
	$(PY) -m tools.catalogs update

check-catalogs: $(STAMP)
	$(PY) -m tools.catalogs check

run: $(STAMP) .env catalogs
	$(PY) -m bot

# Production shape on one host (docs/deploy.md): the migrations once, then WORKERS webhook workers under
# gunicorn on WEB_PORT; DATABASE_URL, REDIS_URL, WEBHOOK_URL, WEBHOOK_SECRET from the environment or .env.
.PHONY: serve migrate
migrate: $(STAMP)
	$(PY) -m bot migrate

serve: $(STAMP) catalogs
	$(VENV)/bin/gunicorn -c deploy/gunicorn.conf.py bot.serve:serve

# Debian packages the tests and the /stats chart need: headless Chromium and its driver (the console's browser
# tests) and Noto CJK (Hangul in the chart). Installed only when missing; needs root (CI runs as root).
SYSTEM_PACKAGES := chromium chromium-driver fonts-noto-cjk
.PHONY: system-packages browsers
system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		else echo "not installed: $$missing (apt-get install them as root; the browser tests skip without them)"; fi; \
	fi
browsers: system-packages

lint: $(STAMP)
	$(PY) -m ruff check .

# The type checker ([tool.mypy] in pyproject.toml): strict on domain/ and services/, mypy's defaults elsewhere;
# bot/conformance.py makes it check the storage implementations against services/ports.py.
typecheck: $(STAMP)
	$(PY) -m mypy

# The layer rules of docs/architecture.md as import-linter contracts ([tool.importlinter] in pyproject.toml).
contracts: $(STAMP)
	$(VENV)/bin/lint-imports

# Two workers (pytest-xdist): the slow tests mostly wait on processes and timers, so two run side by side on
# two cores; TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
test: $(STAMP) catalogs system-packages
	$(PY) -m ruff check .
	$(PY) -m tools.catalogs check
	$(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The edit-run loop: everything but the tests that start processes, kill them or wait through an outage
# (marker e2e), the benchmarks' smoke runs and the fuzz test (marker slow); no ruff, catalogs or contracts.
.PHONY: test-fast
test-fast: $(STAMP) catalogs
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal -q -m "not e2e and not slow" $(PYTEST_ARGS)

bench: $(STAMP) catalogs
	$(PY) -m bench.reminders

.PHONY: bench-delivery
bench-delivery: $(STAMP) catalogs
	$(PY) -m bench.delivery

# The property-based fuzz test with 10,000 examples (make test runs 1,000).
.PHONY: fuzz
fuzz: $(STAMP) catalogs
	FUZZ_PROFILE=fuzz $(PY) -m pytest tests/test_fuzz.py -q -s --timeout=0

# The kill -9 test with 20 kills (make test runs 5); prints duplicates per kill.
.PHONY: soak
soak: $(STAMP) catalogs
	KILLS=20 $(PY) -m pytest tests/test_kills.py -q -s --timeout=0

.PHONY: bench-updates bench-quiz bench-quiz-shaped bench-quiz-ranking bench-http bench-fastpath
bench-updates: $(STAMP) catalogs
	$(PY) -m bench.updates

# The update path (issue 7): a quiz-shaped load in process, and both bots as processes over HTTP (with memory).
bench-quiz-shaped: $(STAMP) catalogs
	$(PY) -m bench.quiz

# The real quiz (issue 9): 1,000 players over HTTP against a bare aiogram bot, then the leaderboard at 10,000.
bench-quiz: $(STAMP) catalogs
	$(PY) -m bench.quiz_play

bench-quiz-ranking: $(STAMP)
	$(PY) -m bench.quiz_ranking

# The web console (issue 19): the People page at 10,000 registrations; the quiz screen while players answer.
.PHONY: bench-console
bench-console: $(STAMP) catalogs
	$(PY) -m bench.console_people
	$(PY) -m bench.console_screen --players 200

bench-http: $(STAMP) catalogs
	$(PY) -m bench.http

bench-fastpath: bench-updates bench-quiz-shaped bench-http

# Webhook workers on PostgreSQL and Redis (issue 18): updates/s with 1 and 2 workers, the shared send rate,
# memory (ARGS="--pg postgresql+asyncpg://... --redis redis://..." or TEST_DATABASE_URL/TEST_REDIS_URL).
.PHONY: bench-webhook
bench-webhook: $(STAMP) catalogs
	$(PY) -m bench.webhook $(ARGS)

# Matchmaking use cases with 300 host cities (add ARGS="--url postgresql+asyncpg://..." for PostgreSQL).
.PHONY: bench-matchmaking
bench-matchmaking: $(STAMP) catalogs
	$(PY) -m bench.matchmaking $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache locales/*/LC_MESSAGES/*.mo
