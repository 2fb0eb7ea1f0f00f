# Sourced by run.sh and test.sh: makes sure .venv exists and matches requirements.lock.
# Rasa 3.6 runs on Python 3.8-3.10 only, so the environment is built from a Python 3.10.
set -euo pipefail
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SUPPORTBOT_VENV:-$PROJECT_ROOT/.venv}"
UV_VERSION="0.13.8"

is_python310() {
    [ -n "$1" ] && [ -x "$1" ] && "$1" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1
}

find_python310() {
    local candidate
    for candidate in "${PYTHON310:-}" "$(command -v python3.10 || true)"; do
        is_python310 "$candidate" && { echo "$candidate"; return 0; }
    done
    if command -v pyenv >/dev/null 2>&1; then
        local prefix
        for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.|$)' | sort -rV); do
            prefix="$(pyenv prefix "$version" 2>/dev/null || true)"
            is_python310 "$prefix/bin/python3.10" && { echo "$prefix/bin/python3.10"; return 0; }
        done
    fi
    for candidate in /usr/bin/python3.10 /usr/local/bin/python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10; do
        is_python310 "$candidate" && { echo "$candidate"; return 0; }
    done
    return 1
}

lock_stamp() {
    cat "$PROJECT_ROOT/requirements.lock" "$PROJECT_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    local stamp_file="$VENV/.supportbot-lock" wanted
    wanted="$(lock_stamp)"
    if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$wanted" ]; then
        return 0
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        local python310
        if ! python310="$(find_python310)"; then
            echo "error: Python 3.10 not found. Rasa 3.6 needs Python 3.8-3.10." >&2
            echo "Install it, e.g. 'pyenv install 3.10.13' or 'apt-get install python3.10 python3.10-venv'," >&2
            echo "or point PYTHON310 at a python3.10 binary." >&2
            exit 1
        fi
        echo "==> creating $VENV with $python310"
        "$python310" -m venv "$VENV"
    fi
    if [ ! -x "$VENV/bin/uv" ]; then
        echo "==> installing uv $UV_VERSION into the environment"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
    fi
    echo "==> installing pinned dependencies (first run downloads several GB: torch, TensorFlow, Rasa)"
    VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip sync --python "$VENV/bin/python" "$PROJECT_ROOT/requirements.lock"
    VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --python "$VENV/bin/python" --no-deps -e "$PROJECT_ROOT"
    echo "$wanted" > "$stamp_file"
    echo "==> environment ready"
}

ensure_venv
export PATH="$VENV/bin:$PATH"
