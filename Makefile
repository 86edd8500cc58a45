# One entry point: make demo | test | bench | install | package
# Uses Debian's system Python, which sees python3-qgis (not a pyenv python3 earlier on PATH).
PYTHON := /usr/bin/python3
export QT_QPA_PLATFORM := offscreen
# setuptools and wheel: tests/test_command_line.py pip-installs the clone without build isolation
# (Debian 13 has no setuptools by default; Debian 12's setuptools builds wheels through wheel).
APT_PACKAGES := qgis qgis-providers python3-qgis python3-gdal gdal-bin python3-numpy \
	python3-sklearn python3-matplotlib python3-pytest python3-pyflakes xvfb xauth \
	python3-dask python3-distributed python3-venv python3-setuptools python3-wheel
# Only for make bench: photographs (scikit-image) and the Pillow/GDAL/pngquant quantizers compared
# against.
BENCH_PACKAGES := python3-skimage python3-pil pngquant
BENCHMARKS := bench small_sheet quality photographs cleanup_accuracy dither_speed batch styled_layers
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PROFILE ?= default
PLUGINS_DIR := $(HOME)/.local/share/QGIS/QGIS3/profiles/$(PROFILE)/python/plugins
VERSION := $(shell git show HEAD:metadata.txt | sed -n 's/^version=//p')

# Debian 12's /usr/bin/qgis_process wrapper passes a flag its binary rejects: call the binary there.
QGIS_PROCESS := $(shell command -v qgis_process.bin || command -v qgis_process)

.PHONY: deps demo test lint qt6 bench install package clean test-debian13 desktop-check

deps:
	@$(PYTHON) -c "import qgis.core, osgeo.gdal, numpy, sklearn, matplotlib, pytest, pyflakes, dask, distributed, setuptools, wheel" 2>/dev/null \
		&& command -v qgis_process >/dev/null && command -v xvfb-run >/dev/null && command -v xauth >/dev/null \
		&& dpkg -s python3-venv >/dev/null 2>&1 \
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
	@# every benchmark runs, even after one reports a missed target; make then fails at the end
	@failed=""; for name in $(BENCHMARKS); do \
		echo "== benchmarks/$$name.py"; $(PYTHON) benchmarks/$$name.py || failed="$$failed $$name"; \
	done; [ -z "$$failed" ] || { echo "make bench: exit status not 0 from:$$failed"; exit 1; }

# The suite on Debian 13 with QGIS 3.40, in a chroot (root, debootstrap, the host's apt mirror).
test-debian13:
	scripts/test-debian13

# The working tree as it is (tracked files with their changes, and new files git does not ignore),
# not HEAD: a throw-away index snapshots it, and git archive applies .gitattributes' export-ignore.
# Then the plugin is enabled for qgis_process and the desktop (the profile's QGIS3.ini).
install:
	@index=$$(mktemp) && cp "$$(git rev-parse --git-path index)" "$$index" && \
		GIT_INDEX_FILE="$$index" git add -A && tree=$$(GIT_INDEX_FILE="$$index" git write-tree) && rm -f "$$index" && \
		rm -rf "$(PLUGINS_DIR)/palettize" && mkdir -p "$(PLUGINS_DIR)/palettize" && \
		git archive --format=tar "$$tree" | tar -x -C "$(PLUGINS_DIR)/palettize"
	@echo "Installed the working tree into $(PLUGINS_DIR)/palettize"
	@runtime=; [ -n "$$XDG_RUNTIME_DIR" ] || runtime=$$(mktemp -d); \
	if [ "$(PROFILE)" = default ] && [ -n "$(QGIS_PROCESS)" ] && \
		XDG_RUNTIME_DIR=$${XDG_RUNTIME_DIR:-$$runtime} "$(QGIS_PROCESS)" plugins enable palettize >/dev/null 2>&1; then \
		echo "Enabled: qgis_process run palettize:quantize works, and QGIS shows Palettize at its next start."; \
	else \
		echo "Enable Palettize in Plugins > Manage and Install Plugins (qgis_process: qgis_process plugins enable palettize)."; \
	fi; \
	[ -z "$$runtime" ] || rm -rf "$$runtime"

# The real QGIS desktop under Xvfb: the dialog, a run, screenshots in desktop-check/ (scripts/desktop_check.py).
desktop-check: deps
	$(PYTHON) scripts/desktop_check.py --out desktop-check

# A zip the checks refuse (e.g. metadata.txt's e-mail still a placeholder) is removed, not left in dist/.
DIST ?= dist
package:
	mkdir -p $(DIST)
	git archive --format=zip --prefix=palettize/ -o $(DIST)/palettize-$(VERSION).zip HEAD
	$(PYTHON) scripts/check_package.py $(DIST)/palettize-$(VERSION).zip || { rm -f $(DIST)/palettize-$(VERSION).zip; \
		echo "No zip was built: fix the problems above and commit them (make package archives HEAD)."; exit 1; }
	@echo "$(DIST)/palettize-$(VERSION).zip: install it with Plugins > Manage and Install Plugins > Install from ZIP."

clean:
	rm -rf dist demo-output desktop-check .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
