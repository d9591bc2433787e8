# gridmap — one command to set up and run, one to test. See README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# What npm installs from api/web/package-lock.json and the app serves: Leaflet (the map), leaflet-geoman (drawing),
# Swagger UI and ReDoc (/docs, /redoc).
WEB_ASSETS := api/web/node_modules/leaflet/dist/leaflet.js \
              api/web/node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js \
              api/web/node_modules/swagger-ui-dist/swagger-ui-bundle.js \
              api/web/node_modules/redoc/bundles/redoc.standalone.js

.PHONY: setup demo serve test bench lint clean browser gdal

# Python environment with the project and its test tools.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

# Web assets from the npm registry (never committed, never a CDN), reinstalled when the lock file
# changes or any of them is missing. No install scripts run: none is needed, and one would be
# swagger-ui-dist's usage analytics.
$(WEB_ASSETS) &: api/web/package-lock.json
	command -v npm >/dev/null || (apt-get update -q && apt-get install -y -q npm)
	npm ci --prefix api/web --ignore-scripts --no-audit --no-fund --loglevel=error
	for f in $(WEB_ASSETS); do test -s $$f || { echo "npm ci did not install $$f" >&2; exit 1; }; done
	touch -c $(WEB_ASSETS)

# Headless Chromium and its matching driver for the browser tests (Debian's packages).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver)

# GDAL's ogr2ogr, the yardstick of the household import benchmark (Debian's package).
gdal:
	@command -v ogr2ogr >/dev/null || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q gdal-bin)

# Provisions a local PostGIS when GRIDMAP_DATABASE_URL is unset, then migrates.
setup: $(STAMP) $(WEB_ASSETS)
	$(BIN)/gridmap db up

demo: setup
	$(BIN)/gridmap demo --serve

serve: setup
	$(BIN)/gridmap serve

test: setup browser
	$(BIN)/ruff check geo api tiles importers tests bench
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n auto --dist loadfile

bench: setup gdal
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) api/web/node_modules .pytest_cache
