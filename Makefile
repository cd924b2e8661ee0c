# Everyday commands. `make run` and `make test` need nothing but Python >= 3.12:
# without DATABASE_URL / REDIS_URL they start an embedded PostgreSQL and Redis
# with their data under var/ (see followup/ops/embedded.py).

VENV := .venv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# The virtualenv's python, pytest, honcho, gunicorn and celery come first, for
# the recipes below and for the Procfile that honcho runs.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# Starts the embedded servers when needed, runs the command, stops them after.
EMBEDDED := python -m followup.ops.embedded

# The browser the browser tests use (see the rule that installs it, below `lint`).
CHROMIUM := /usr/bin/chromium
# The DICOM peers the DICOM feed's tests talk to (tests/followup/feeds/dicom): dcmtk's
# storescu, and Orthanc with its DICOMweb plugin (see the rule below `lint`).
STORESCU := /usr/bin/storescu
ORTHANC_DICOMWEB := /usr/share/orthanc/plugins/libOrthancDicomWeb.so
# What the outcomes report's PDF needs (WeasyPrint renders with Pango) and what its tests
# read the PDF back with (pdftoppm, pdftotext): installed by the rule below `lint`.
PDFTOOLS := /usr/bin/pdftoppm
# The accessibility checker the questionnaire's browser test injects (npm, package.json).
AXE := node_modules/axe-core/axe.min.js

# The first Python >= 3.12: python3 (pyenv's shim honours .python-version), then
# python3.13 / python3.12 on PATH, then the newest under pyenv's versions/.
PYENV_VERSIONS := $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions
FIND_PYTHON := for py in python3 python3.13 python3.12 \
		$$(ls -d $(PYENV_VERSIONS)/3.1[2-9]*/bin/python 2>/dev/null | sort -rV); do \
	if "$$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
		"$$py" -c 'import sys; print(sys.executable)'; exit 0; \
	fi; \
	done; exit 1

.PHONY: venv run test lint lock lock-check lock-upgrade clean clean-data messages

venv: $(STAMP)

# Re-installs only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@set -e; \
	if [ ! -x $(VENV)/bin/python ]; then \
		py=$$($(FIND_PYTHON)) || { \
			echo "error: no Python >= 3.12 found (tried python3, python3.13, python3.12" \
				"and $(PYENV_VERSIONS)/3.1[2-9]*); install one, e.g. 'pyenv install 3.13'" >&2; \
			exit 1; }; \
		echo "Creating $(VENV) with $$py"; \
		"$$py" -m venv $(VENV); \
	fi; \
	echo "Installing the project, its dev and local dependencies into $(VENV)"; \
	$(VENV)/bin/python -m pip install -qq --disable-pip-version-check -e '.[dev,local]'; \
	touch $@

# Serves on 127.0.0.1:8000 (or $PORT: honcho gives it to the first process, web, and
# PORT+100, +200... to the others): SITE_URL is fixed before, so that the links the
# workers put in e-mails (questionnaires, digests) point at the web process.
# Ctrl-C stops the processes and the embedded servers; the data stays in var/.
# Webhooks may go to a receiver on this machine over plain http (off in production:
# docs/security.md, "Outbound requests").
run: export WEBHOOK_ALLOW_HTTP ?= true
run: export WEBHOOK_ALLOW_PRIVATE_NETWORKS ?= true
run: venv
	$(EMBEDDED) sh -c '\
		python manage.py migrate --noinput && \
		python manage.py collectstatic --noinput --verbosity 0 && \
		python manage.py seed_demo && \
		export SITE_URL="$${SITE_URL:-http://127.0.0.1:$${PORT:-8000}}" && \
		exec honcho start --port $${PORT:-8000}'

# PYTEST_ARGS is passed on word by word: make test PYTEST_ARGS="-k sweep -x".
# Without it, the fault drills (tests/drills) run in a pytest of their own after the
# rest: they kill and replace Redis and Celery's connections, which must not leak
# into the other tests. Then the long run of random patient histories (marker
# invariants_long, left out of the others by pyproject's addopts; INVARIANTS_EXAMPLES
# sets its count; docs/reliability.md says how long it takes).
test: lint lock-check $(CHROMIUM) $(PDFTOOLS) $(AXE) $(STORESCU) $(ORTHANC_DICOMWEB)
	$(EMBEDDED) sh -c '\
		python manage.py check && \
		python manage.py makemigrations --check --dry-run && \
		if [ $$# -gt 0 ]; then exec pytest "$$@"; fi && \
		pytest --ignore=tests/drills && \
		pytest tests/drills && \
		exec pytest -m invariants_long tests/followup/invariants' pytest $(PYTEST_ARGS)

# ruff, then the import-linter contracts of pyproject.toml (the layers, docs/architecture.md).
lint: venv
	ruff check . && lint-imports

# requirements.lock: the runtime dependencies of pyproject.toml, pinned with their hashes,
# for every platform and Python >= 3.12 (uv's universal resolution), installed by the
# Dockerfile. `make lock` after changing pyproject's dependencies keeps the other pins;
# `make lock-upgrade` moves every pin to the newest allowed release (docs/operations.md).
LOCK_COMPILE := uv pip compile pyproject.toml --quiet --generate-hashes --universal \
	--python-version 3.12 --custom-compile-command "make lock"

lock: venv
	$(LOCK_COMPILE) -o requirements.lock

lock-upgrade: venv
	$(LOCK_COMPILE) --upgrade -o requirements.lock

# Fails when requirements.lock is not what `make lock` writes now: compiled again in a
# temporary folder from the same pins (uv needs the package index for this).
lock-check: venv
	@tmp=$$(mktemp -d); cp requirements.lock $$tmp/; \
	$(LOCK_COMPILE) -o $$tmp/requirements.lock && diff -u requirements.lock $$tmp/requirements.lock; \
	status=$$?; rm -rf $$tmp; \
	if [ $$status -ne 0 ]; then echo "error: requirements.lock is stale: run 'make lock'" >&2; fi; \
	exit $$status

# The browser tests (tests/followup/screens/test_browser.py) drive Debian's Chromium
# through Playwright (a dev dependency; no `playwright install`). CI and dev machines
# are Debian and run as root: installed once, when missing.
$(CHROMIUM):
	@echo "Installing Chromium for the browser tests (apt-get)"
	@export DEBIAN_FRONTEND=noninteractive; \
	{ apt-get update -qq && apt-get install -y -qq chromium; } || { \
		echo "error: could not install Chromium; the browser tests need $(CHROMIUM)." \
			"Run as root: apt-get update && apt-get install -y chromium" >&2; \
		exit 1; }

# The DICOM feed's tests send studies with dcmtk's storescu and reconcile against a real
# Orthanc with its DICOMweb plugin, each started by the tests on free loopback ports with a
# throwaway configuration. Installed once, when missing, like Chromium; the Debian package's
# own Orthanc service is stopped (the tests never use it).
$(STORESCU):
	@echo "Installing dcmtk for the DICOM feed's tests (apt-get)"
	@export DEBIAN_FRONTEND=noninteractive; \
	{ apt-get update -qq && apt-get install -y -qq dcmtk; } || { \
		echo "error: could not install dcmtk; the DICOM tests need $(STORESCU)." \
			"Run as root: apt-get update && apt-get install -y dcmtk" >&2; \
		exit 1; }

$(ORTHANC_DICOMWEB):
	@echo "Installing Orthanc and its DICOMweb plugin for the DICOM feed's tests (apt-get)"
	@export DEBIAN_FRONTEND=noninteractive; \
	{ apt-get update -qq && apt-get install -y -qq orthanc orthanc-dicomweb; } || { \
		echo "error: could not install Orthanc; the DICOM tests need $(ORTHANC_DICOMWEB)." \
			"Run as root: apt-get update && apt-get install -y orthanc orthanc-dicomweb" >&2; \
		exit 1; }; \
	if [ -x /etc/init.d/orthanc ]; then /etc/init.d/orthanc stop >/dev/null 2>&1 || true; fi

# The outcomes PDF (WeasyPrint: Pango and its fonts) and its tests (poppler-utils).
$(PDFTOOLS):
	@echo "Installing Pango and poppler-utils for the outcomes report's PDF (apt-get)"
	@export DEBIAN_FRONTEND=noninteractive; \
	{ apt-get update -qq && apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 \
		fonts-dejavu-core poppler-utils; } || { \
		echo "error: could not install Pango and poppler-utils; the outcomes PDF needs them." \
			"Run as root: apt-get update && apt-get install -y libpango-1.0-0" \
			"libpangoft2-1.0-0 fonts-dejavu-core poppler-utils" >&2; \
		exit 1; }

# The French of the patient's questionnaire pages and e-mails (followup/locale): after
# editing the .po, compile it; the .mo is committed, so running the service needs no gettext.
messages:
	msgfmt --check -o followup/locale/fr/LC_MESSAGES/django.mo followup/locale/fr/LC_MESSAGES/django.po

# axe-core for the browser tests (tests/followup/screens/test_questionnaire_browser.py),
# pinned by package-lock.json; never served to anyone. Needs Node.js and npm.
$(AXE): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is missing: the browser tests need" \
		"axe-core. Run as root: apt-get install -y npm" >&2; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

# Removes the virtualenv only; the database and Redis data under var/ stay.
clean:
	rm -rf $(VENV)

# Removes the embedded database and Redis data (stop `make run` first).
clean-data:
	rm -rf var
