# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO := demo

.PHONY: system browser venv replay axe demo test lint clean

SYSTEM_PACKAGES := libimage-exiftool-perl ffmpeg libjpeg-turbo-progs libgl1 libglib2.0-0 \
	fonts-dejavu-core nginx

system:  ## ExifTool, ffmpeg, jpegtran, OpenCV's libraries, a font for the PDF report, and nginx (the team deployment's smoke test), from Debian
	@command -v exiftool >/dev/null && command -v ffmpeg >/dev/null && command -v jpegtran >/dev/null \
		&& { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } \
		&& ldconfig -p | grep -q 'libGL.so.1 ' && ldconfig -p | grep -q 'libgthread-2.0.so.0 ' \
		&& [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] \
		|| { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); }

$(BIN)/docket: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/docket

# ReplayWeb.page (AGPL-3.0), which the web app serves to replay captures offline: fetched from
# the npm registry at a pinned version, checked against the registry's SHA-512 integrity, and
# unpacked under vendor/ (git-ignored: it is never part of this repository).
REPLAY_VERSION := 2.5.3
REPLAY_INTEGRITY := nCj2PSON3BxeSJKE8AsYPyULv0XPZKJWfy4l9PyQre9SqwLZ+WKZVs/sfLqPOQ4GrH+0YkjbwOhr8cSTH08gsQ==
REPLAY_DIR := vendor/replaywebpage

replay: $(REPLAY_DIR)/.version-$(REPLAY_VERSION)  ## ReplayWeb.page's ui.js and sw.js for the web app's replay

$(REPLAY_DIR)/.version-$(REPLAY_VERSION):
	mkdir -p vendor && printf '*\n' > vendor/.gitignore
	curl -fsSL -o vendor/replaywebpage.tgz \
		https://registry.npmjs.org/replaywebpage/-/replaywebpage-$(REPLAY_VERSION).tgz
	[ "$$(openssl dgst -sha512 -binary vendor/replaywebpage.tgz | base64 -w0)" = "$(REPLAY_INTEGRITY)" ] \
		|| { echo "vendor/replaywebpage.tgz: not the SHA-512 the npm registry gives for $(REPLAY_VERSION)"; \
		rm -f vendor/replaywebpage.tgz; exit 1; }
	rm -rf $(REPLAY_DIR) && mkdir -p $(REPLAY_DIR)
	tar -xzf vendor/replaywebpage.tgz -C $(REPLAY_DIR) --strip-components=1
	rm vendor/replaywebpage.tgz
	touch $@

# axe-core (MPL-2.0), which the accessibility test injects into every page of the web app:
# fetched from the npm registry at a pinned version, checked against the registry's SHA-512
# integrity, and unpacked under vendor/ (git-ignored: it is never part of this repository).
AXE_VERSION := 4.14.1
AXE_INTEGRITY := FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==
AXE_DIR := vendor/axe-core

axe: $(AXE_DIR)/.version-$(AXE_VERSION)  ## axe-core's axe.min.js for the web app's accessibility test

$(AXE_DIR)/.version-$(AXE_VERSION):
	mkdir -p vendor && printf '*\n' > vendor/.gitignore
	curl -fsSL -o vendor/axe-core.tgz \
		https://registry.npmjs.org/axe-core/-/axe-core-$(AXE_VERSION).tgz
	[ "$$(openssl dgst -sha512 -binary vendor/axe-core.tgz | base64 -w0)" = "$(AXE_INTEGRITY)" ] \
		|| { echo "vendor/axe-core.tgz: not the SHA-512 the npm registry gives for $(AXE_VERSION)"; \
		rm -f vendor/axe-core.tgz; exit 1; }
	rm -rf $(AXE_DIR) && mkdir -p $(AXE_DIR)
	tar -xzf vendor/axe-core.tgz -C $(AXE_DIR) --strip-components=1
	rm vendor/axe-core.tgz
	touch $@

demo: system venv replay  ## make sample evidence, ingest it into a demo locker, verify, list
	rm -rf $(DEMO)
	$(BIN)/python -m docket._samples $(DEMO)/samples
	$(BIN)/docket init $(DEMO)/locker
	$(BIN)/docket ingest --locker $(DEMO)/locker --case "Demo case" --source W-17 $(DEMO)/samples
	$(BIN)/docket verify --locker $(DEMO)/locker
	$(BIN)/docket ls --locker $(DEMO)/locker
	$(BIN)/docket clusters --locker $(DEMO)/locker
	$(BIN)/docket incident add --locker $(DEMO)/locker "Demo case" "Raid on the east market" \
		--when 2024-03-01T12:00 --lat 33.5043 --lon 36.2842 --violation "arbitrary detention"
	$(BIN)/docket incident timeline --locker $(DEMO)/locker "Demo case"
	$(BIN)/docket export --locker $(DEMO)/locker --case "Demo case" --profile court \
		--recipient "Demo tribunal" -o $(DEMO)/court-package.zip
	$(BIN)/docket key --locker $(DEMO)/locker > $(DEMO)/sender.pub  # given to the recipient apart
	$(BIN)/docket-check --key $(DEMO)/sender.pub $(DEMO)/court-package.zip
	@echo "To review in the browser: $(BIN)/docket user add you --role admin --locker $(DEMO)/locker"
	@echo "then $(BIN)/docket serve --locker $(DEMO)/locker and open http://127.0.0.1:8000"

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

browser:  ## Debian's Chromium, which the web app's browser test drives
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Three pytest workers on two cores: the suite waits on subprocesses, browsers, fsync and
# sleeps for a quarter of its time, which a third worker fills (25:16 against 27:54 here).
test: system browser venv replay axe lint  ## lint, types, then the whole test suite (SQLite and PostgreSQL) on both cores (pytest-xdist)
	scripts/with-postgres.sh $(BIN)/pytest -q -n 3 --dist loadfile --durations=50

clean:
	rm -rf $(VENV) $(DEMO) .mypy_cache .ruff_cache .pytest_cache
