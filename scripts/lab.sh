#!/usr/bin/env bash
# The main job: JupyterLab on 127.0.0.1 with the ipy-oci extensions and notebooks/ open.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${IPY_OCI_LAB_PORT:-8888}"
TOKEN="${IPY_OCI_LAB_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')}"
echo "JupyterLab with ipy-oci: http://127.0.0.1:${PORT}/lab?token=${TOKEN}"
echo "(the server extension and the containers panel are enabled; stop with Ctrl-C)"
exec .venv/bin/jupyter lab --allow-root --no-browser --ip 127.0.0.1 --port "$PORT" \
    --IdentityProvider.token="$TOKEN" --ServerApp.root_dir="$PWD/notebooks" \
    --ServerApp.jpserver_extensions="{'ipy_oci.server': True}"
