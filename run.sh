#!/usr/bin/env bash
# The main job: builds the environment if needed, then trains, indexes and starts the whole bot.
# Arguments go to `supportbot run` (e.g. --knowledge DIR, --port N).
set -euo pipefail
. "$(dirname "$0")/scripts/bootstrap.sh"
cd "$PROJECT_ROOT"
exec supportbot run "$@"
