#!/usr/bin/env bash
# The style checks of the test command (./rfx test), on the whole tree:
# clang-format on the hypervisor's C, ruff (lint and format) and mypy --strict
# on the Python. Any drift fails like a failing test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin}
PY_PATHS="ramooflax tests bench examples"

echo "[lint] clang-format (hv/, .clang-format)"
git ls-files -z 'hv/*.c' 'hv/*.h' | xargs -0 clang-format --dry-run --Werror
echo "[lint] ruff check"
"$PY/ruff" check $PY_PATHS
echo "[lint] ruff format --check"
"$PY/ruff" format --check $PY_PATHS
echo "[lint] mypy --strict (ramooflax)"
"$PY/mypy"
