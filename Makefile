# ipy-oci: every target installs what it needs first, and can be re-run safely.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
APT_PACKAGES := runc crun conmon busybox-static catatonit tini sqlite3 iproute2 procps \
                skopeo docker-registry apache2-utils openssl chromium \
                netavark aardvark-dns iptables \
                uidmap slirp4netns fuse-overlayfs \
                golang-github-containers-common gcc libc6-dev buildah \
                slurm-wlm munge

.PHONY: all deps apt apt-install venv pyc labext run demo test lint typecheck bench clean

all: test

apt:
	@$(MAKE) --no-print-directory apt-install PKGS="$(APT_PACKAGES)"

# Installs the packages in PKGS that are missing (apt-get update only when needed).
apt-install:
	@missing=""; for p in $(PKGS); do \
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

# The JupyterLab extension, built into ipy_oci/labextension; pip then installs it
# (editable installs copy shared-data, so it is re-run after each build).
LABEXT_SRC := $(wildcard labextension/src/* labextension/style/*) labextension/package.json labextension/yarn.lock
ipy_oci/labextension/package.json: $(VENV)/.installed $(LABEXT_SRC)
	cd labextension && ../$(VENV)/bin/jlpm install --immutable && PYTHON=$(CURDIR)/$(PY) ../$(VENV)/bin/jlpm build:prod
	$(PY) -m pip install -q --no-deps -e .

labext: ipy_oci/labextension/package.json

deps: apt venv pyc labext

# The main job: JupyterLab with the extensions and notebooks/ open (prints its URL).
run: deps
	bash scripts/lab.sh

# A short tour of the command line with real containers.
demo: deps
	bash scripts/demo.sh

lint: venv
	$(VENV)/bin/ruff check ipy_oci tests bench conformance

typecheck: venv
	$(VENV)/bin/mypy

test: deps lint typecheck
	$(VENV)/bin/pytest -q tests
	cd labextension && ../$(VENV)/bin/jlpm test && ../$(VENV)/bin/jlpm ui-test

# Side by side with podman 4.3 (vfs, cgroupfs, runc); takes several minutes.
bench: deps
	@$(MAKE) --no-print-directory apt-install PKGS="podman"
	$(PY) bench/run_all.py --plot docs/exec-latency.png

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
