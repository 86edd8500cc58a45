# One entry point: make demo | test | bench | install | package
# Uses Debian's system Python, which sees python3-qgis (not a pyenv python3 earlier on PATH).
PYTHON := /usr/bin/python3
export QT_QPA_PLATFORM := offscreen
APT_PACKAGES := qgis qgis-providers python3-qgis python3-gdal gdal-bin python3-numpy \
	python3-sklearn python3-matplotlib python3-pytest python3-pyflakes
# Only for make bench: photographs (scikit-image) and the Pillow/GDAL/pngquant quantizers compared
# against.
BENCH_PACKAGES := python3-skimage python3-pil python3-venv pngquant
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PROFILE ?= default
PLUGINS_DIR := $(HOME)/.local/share/QGIS/QGIS3/profiles/$(PROFILE)/python/plugins
VERSION := $(shell git show HEAD:metadata.txt | sed -n 's/^version=//p')

.PHONY: deps demo test lint qt6 bench install package clean test-debian13

deps:
	@$(PYTHON) -c "import qgis.core, osgeo.gdal, numpy, sklearn, matplotlib, pytest, pyflakes" 2>/dev/null \
		&& command -v qgis_process >/dev/null \
		|| { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $(APT_PACKAGES); }

demo: deps
	$(PYTHON) scripts/demo.py

test: deps lint qt6
	$(PYTHON) -m pytest -q tests

qt6:
	$(PYTHON) scripts/check_qt6.py

lint: deps
	$(PYTHON) -m pyflakes $$(git ls-files "*.py")

bench: deps
	@$(PYTHON) -c "import skimage, PIL" 2>/dev/null && command -v pngquant >/dev/null || { $(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $(BENCH_PACKAGES); }
	$(PYTHON) benchmarks/bench.py
	$(PYTHON) benchmarks/quality.py
	$(PYTHON) benchmarks/photographs.py
	$(PYTHON) benchmarks/cleanup_accuracy.py
	$(PYTHON) benchmarks/dither_speed.py

# The suite on Debian 13 with QGIS 3.40, in a chroot (root, debootstrap, Debian's mirror).
test-debian13:
	scripts/test-debian13

install:
	rm -rf "$(PLUGINS_DIR)/palettize"
	mkdir -p "$(PLUGINS_DIR)/palettize"
	git archive --format=tar HEAD | tar -x -C "$(PLUGINS_DIR)/palettize"
	@echo "Installed into $(PLUGINS_DIR)/palettize: enable Palettize in Plugins > Manage and Install Plugins."

package:
	mkdir -p dist
	git archive --format=zip --prefix=palettize/ -o dist/palettize-$(VERSION).zip HEAD
	$(PYTHON) scripts/check_package.py dist/palettize-$(VERSION).zip
	@echo "dist/palettize-$(VERSION).zip: install it with Plugins > Manage and Install Plugins > Install from ZIP."

clean:
	rm -rf dist demo-output .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
