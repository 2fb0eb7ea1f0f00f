#!/usr/bin/env bash
# The whole test suite: builds the environment if needed, validates the Rasa data, runs pytest.
# Arguments go to pytest (e.g. -k retrieval, -m "not slow").
set -euo pipefail
. "$(dirname "$0")/scripts/bootstrap.sh"
cd "$PROJECT_ROOT"
echo "==> rasa data validate"
log="$(mktemp)"
if ! python -m rasa data validate --domain domain.yml --data bot/data --config config.yml --fail-on-warnings >"$log" 2>&1; then
    grep -v -E "DeprecationWarning|^\s" "$log" | tail -30
    echo "rasa data validate failed"
    exit 1
fi
rm -f "$log"
echo "==> Chromium for the browser tests"
bash scripts/ensure_chromium.sh
echo "==> pytest"
exec python -m pytest "$@"
