#!/usr/bin/env bash
# Re-resolve every dependency of pyproject.toml into requirements.lock (Python 3.10, Linux x86_64).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
# the present pins are kept where they still fit (uv prefers the versions already in its output file)
tail -n +3 requirements.lock > requirements.lock.new
"$VENV/bin/uv" pip compile pyproject.toml --extra test --python-version 3.10 \
    --python-platform x86_64-unknown-linux-gnu --no-header -o requirements.lock.new
{ echo "# Pinned versions of every dependency, resolved for Python 3.10 on Linux x86_64."
  echo "# Regenerate with: scripts/lock.sh"
  cat requirements.lock.new; } > requirements.lock
rm requirements.lock.new
