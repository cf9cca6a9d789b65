#!/bin/sh
# Builds {{crate}}.wasm, a WebAssembly component of the Vivres contract, from app.py
# and the Python SDK of your Vivres checkout. Needs componentize-py {{componentize}}
# (`cargo xtask build-plugins` in the checkout installs it into target/python-venv;
# or `pip install componentize-py=={{componentize}}`); set COMPONENTIZE_PY to choose one.
set -e
cd "$(dirname "$0")"
tool="${COMPONENTIZE_PY:-{{repo}}/target/python-venv/bin/componentize-py}"
if [ ! -x "$tool" ]; then tool=componentize-py; fi
env -u VIRTUAL_ENV "$tool" -d "{{repo}}/{{wit}}" -w connector-plugin componentize app \
    -p src -p "{{repo}}/plugins/python/sdk" -o {{crate}}.wasm
echo "built {{crate}}.wasm"
