# gridmap — one command to set up and run, one to test. See README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
LEAFLET := api/web/node_modules/leaflet/dist/leaflet.js

.PHONY: setup demo serve test bench lint clean

# Python environment with the project and its test tools.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

# Leaflet for the web map, from the npm registry (never committed, never a CDN).
$(LEAFLET): api/web/package-lock.json
	command -v npm >/dev/null || (apt-get update -q && apt-get install -y -q npm)
	npm ci --prefix api/web --no-audit --no-fund --loglevel=error
	touch $@

# Provisions a local PostGIS when GRIDMAP_DATABASE_URL is unset, then migrates.
setup: $(STAMP) $(LEAFLET)
	$(BIN)/gridmap db up

demo: setup
	$(BIN)/gridmap demo --serve

serve: setup
	$(BIN)/gridmap serve

test: setup
	$(BIN)/ruff check geo api tiles importers tests bench
	$(BIN)/lint-imports
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) api/web/node_modules .pytest_cache
