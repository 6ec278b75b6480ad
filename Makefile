# Everything a developer or CI runs. `make run` and `make test` set themselves up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint check format lock clean bench

$(INSTALLED): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

install: $(INSTALLED)

## Run the server on the embedded default (SQLite in ./data) with a demo workspace.
run: $(INSTALLED)
	$(BIN)/billabled serve --demo

## The test suite: SQLite by default; PostgreSQL + Redis when BILLABLED_TEST_DATABASE_URL and
## BILLABLED_TEST_REDIS_URL are set.
test: $(INSTALLED)
	$(BIN)/pytest -n 2

lint: $(INSTALLED)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src bench --exclude "^bench/driver_choice/"

check: lint test

format: $(INSTALLED)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

## Quick benchmarks (a few minutes): a 1/20-scale dataset and every scenario, on SQLite and on
## PostgreSQL (BENCH_POSTGRES_URL), then `GET /me` with the rate limits in Redis (BENCH_REDIS_URL),
## as production counts them beyond one process. Full scale: see docs/benchmarks.md.
BENCH_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/billabled_bench_quick
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14
bench: $(INSTALLED)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.dataset --quick --database-url sqlite:////tmp/billabled-bench/quick-bench.db --manifest bench/results/quick-sqlite.json
	$(BIN)/python -m bench.scenarios --quick --manifest bench/results/quick-sqlite.json
	$(BIN)/python -m bench.dataset --quick --database-url $(BENCH_POSTGRES_URL) --manifest bench/results/quick-postgresql.json
	$(BIN)/python -m bench.scenarios --quick --manifest bench/results/quick-postgresql.json
	$(BIN)/python -m bench.scenarios --quick --manifest bench/results/quick-postgresql.json --only 4 --redis-url $(BENCH_REDIS_URL)

## Re-pin dependencies after changing pyproject.toml.
lock: $(INSTALLED)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --quiet -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes --quiet -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
