# ipy-oci: every target installs what it needs first, and can be re-run safely.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
APT_PACKAGES := runc crun conmon busybox-static catatonit tini sqlite3 iproute2 procps

.PHONY: all deps apt venv pyc run test lint typecheck bench clean

all: test

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Byte-compile up front: with PYTHONDONTWRITEBYTECODE set, every CLI start (and every
# conmon exit command) would otherwise recompile the package from source.
pyc: venv
	@$(PY) -m compileall -q ipy_oci

venv: $(VENV)/.installed

deps: apt venv pyc

run: deps
	bash scripts/demo.sh

lint: venv
	$(VENV)/bin/ruff check ipy_oci tests bench

typecheck: venv
	$(VENV)/bin/mypy

test: deps lint typecheck
	$(VENV)/bin/pytest -q tests

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
