PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

# The write side, then the read primary when it has a database of its own (its
# replicas get their tables by streaming replication).
MIGRATE = $(BIN)/python manage.py migrate --no-input && \
	{ test -z "$$READ_DATABASE_URL" || $(BIN)/python manage.py migrate --no-input --database read; }

.PHONY: install run serve serve-proxy test lint format bench bench-topology clean

# Re-install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	DEBUG=1 $(MIGRATE)
	DEBUG=1 $(BIN)/python manage.py seed_demo
	DEBUG=1 $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# Production server: gunicorn, DEBUG off. Needs SECRET_KEY (and DATABASE_URL) in the environment.
# Threads, so a read that waits for the projection (min_version) does not hold a worker;
# config/gunicorn.py adds the metrics up across workers.
WORKERS ?= 3
THREADS ?= 4
GUNICORN = $(BIN)/gunicorn config.wsgi --config config/gunicorn.py --workers $(WORKERS) --worker-class gthread --threads $(THREADS)
serve: install
	@test -n "$$SECRET_KEY" || { echo "Set SECRET_KEY to serve with DEBUG off"; exit 1; }
	$(MIGRATE)
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	$(GUNICORN) --bind 127.0.0.1:$(PORT)

# The same gunicorn behind nginx (deploy/nginx.conf; Debian's nginx package), as in
# production: nginx on PORT reads requests and responses whole, so slow clients never
# hold a gunicorn thread, and serves the static files; gunicorn listens on a unix socket
# in PROXY_RUN_DIR (default: a new temporary directory, which also holds nginx's logs).
serve-proxy: install
	@test -n "$$SECRET_KEY" || { echo "Set SECRET_KEY to serve with DEBUG off"; exit 1; }
	$(MIGRATE)
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	PORT=$(PORT) deploy/serve-proxy $(GUNICORN)

# Benchmarks on a throwaway PostgreSQL (see README, Performance). ORDERS=20000 for a quick look.
ORDERS ?= 1000000
SECONDS ?= 6
bench: install
	$(BIN)/python -m bench.run --orders $(ORDERS) --seconds $(SECONDS)

# The split topology (README, Scaling out): replica lag, reads from the replica, the
# read database's outage under writers. TOPOLOGY_ORDERS seeded in each topology.
TOPOLOGY_ORDERS ?= 20000
bench-topology: install
	$(BIN)/python -m bench.topology --orders $(TOPOLOGY_ORDERS) --seconds $(SECONDS)

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm .pytest_cache
