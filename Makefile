# Every target creates or updates the virtual environment itself, so each works on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export NELO_DATA_DIR ?= $(CURDIR)/data

.PHONY: venv test lint format demo dev prod image compose test-containers dashboard bench bench-quick bench-freshness schema docs lock snapshot clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

test: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	@bash .ci/ensure-chromium
	@bash .ci/ensure-postgresql
	$(BIN)/ruff check .
	$(BIN)/dg check defs
	$(BIN)/pytest -n 2 --dist loadfile --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m nelo_assets.service.demo

# `dg dev` is `dagster dev` without the notice that dg supersedes it; run in DAGSTER_HOME, it
# sees no second dagster.yaml (the template in the repository) to warn about.
dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m nelo_assets.serving.analytics
	cd $(DAGSTER_HOME) && $(CURDIR)/$(BIN)/dg dev -w $(CURDIR)/workspace.yaml

# The production layout on one machine: PostgreSQL, code server, webserver, daemon (deploy/).
prod: $(STAMP)
	@test -n "$$DAGSTER_PG_HOST" || bash .ci/ensure-postgresql
	$(BIN)/python -m nelo_assets.service.prod

# The project image, tagged with the commit, on a Docker daemon this starts when none answers
# (docs/deploy.md, "Containers").
image:
	@bash deploy/local/ensure-docker
	@bash deploy/local/build-image

# The same layout in containers (deploy/docker-compose.yaml + its local profile), every run in
# its own container; needs `make image` for this commit and DAGSTER_PG_PASSWORD.
compose: $(STAMP)
	$(BIN)/python -m nelo_assets.service.compose

# Builds the image and runs the stack for real, serially (about 10 minutes; not in `make test`).
test-containers: $(STAMP) image
	$(BIN)/pytest -p no:cacheprovider -m containers --durations=5 nelo_assets_tests/containers

dashboard: $(STAMP)
	$(BIN)/streamlit run nelo_assets/serving/dashboard/app.py --server.headless true --server.address "$${NELO_DASHBOARD_ADDRESS:-127.0.0.1}" --server.port 8501 --browser.gatherUsageStats false

bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

# The freshness section alone (about 9 minutes): its rounds' median p95 and each round's, on
# stderr; the whole results as JSON in bench/out/freshness.json.
bench-freshness: $(STAMP)
	@mkdir -p bench/out
	$(BIN)/python -m bench.freshness > bench/out/freshness.json

# Regenerate docs/event-schema.json from the pydantic contract.
schema: $(STAMP)
	$(BIN)/python -m nelo_assets.ingestion.schema_export docs/event-schema.json

# Regenerate docs/tables.md from the table registry (nelo_assets/storage/tables.py).
docs: $(STAMP)
	$(BIN)/python -m nelo_assets.storage.tables_doc docs/tables.md

# Regenerate constraints.txt (pinned versions of every dependency) from a clean resolve.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	.venv-lock/bin/python -m pip freeze --exclude-editable > constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

# Regenerate the committed snapshot of the asset graph (say why in the commit that changes it).
snapshot: $(STAMP)
	env -u NELO_START_DATE -u NELO_TIMEZONE -u NELO_SENSOR_INTERVAL_SECONDS -u NELO_AUTOMATION_INTERVAL_SECONDS $(BIN)/python nelo_assets_tests/defs/test_definitions_snapshot.py > nelo_assets_tests/defs/snapshots/definitions.json
