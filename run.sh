#!/usr/bin/env bash
# CardiacSSL developer entry point: creates ./.venv on first use, then
#   bash run.sh demo [cardiacssl demo options]   segment the built-in phantom cine
#   bash run.sh test [pytest options]            run the whole test suite
#   bash run.sh cardiacssl <args>                any cardiacssl command
# TORCH_SPEC selects the torch build (default the CPU wheel torch==2.13.0; see README for CUDA).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${CARDIACSSL_VENV:-.venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
STAMP="$VENV/.cardiacssl-env"
want="$(cat requirements-lock.txt pyproject.toml | sha256sum | cut -c1-16) $TORCH_SPEC"

if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "run.sh: creating the environment in $VENV (first run only)" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # torch first and alone, so nothing below can pull in another build
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install --quiet $TORCH_SPEC
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$VENV/bin/python" -m pip install --quiet -r requirements-lock.txt
  "$VENV/bin/python" -m pip install --quiet --no-deps -e .
  echo "$want" > "$STAMP"
fi

cmd="${1:-demo}"
shift || true
case "$cmd" in
  demo) exec "$VENV/bin/cardiacssl" demo "$@" ;;
  test) exec "$VENV/bin/python" -m pytest "$@" ;;
  cardiacssl) exec "$VENV/bin/cardiacssl" "$@" ;;
  *) echo "usage: bash run.sh demo|test|cardiacssl [args]" >&2; exit 2 ;;
esac
