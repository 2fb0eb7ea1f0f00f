#!/usr/bin/env bash
# Makes sure a Chromium usable by the browser tests (tests/browser.py) is installed.
# Idempotent: does nothing when $CHROMIUM (default /usr/bin/chromium) already runs; otherwise
# installs Debian's `chromium` and `chromium-driver` with apt-get (running `apt-get update` first
# when the package lists are missing or stale). Uses sudo only when not root.
# Exit status: 0 when Chromium runs at the end, non-zero with a message otherwise.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PACKAGES=(chromium chromium-driver)

log() { echo "ensure_chromium: $*" >&2; }

chromium_runs() {
    [ -x "$CHROMIUM" ] || return 1
    local version
    version="$(timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --version 2>/dev/null)" || return 1
    [ -n "$version" ] || return 1
    log "found $CHROMIUM: $version"
}

if chromium_runs; then
    exit 0
fi

if [ "$CHROMIUM" != "/usr/bin/chromium" ]; then
    log "\$CHROMIUM=$CHROMIUM does not run; installing Debian's chromium (/usr/bin/chromium)"
else
    log "$CHROMIUM is missing or does not run; installing Debian packages: ${PACKAGES[*]}"
fi

if ! command -v apt-get >/dev/null 2>&1; then
    log "ERROR: apt-get not found: install Chromium by hand and set CHROMIUM=/path/to/chromium"
    exit 2
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        log "ERROR: not root and sudo is not available: cannot run apt-get install ${PACKAGES[*]}"
        exit 2
    fi
fi

export DEBIAN_FRONTEND=noninteractive
APT_INSTALL=("${SUDO[@]}" apt-get install -y --no-install-recommends -o Dpkg::Progress-Fancy=0 "${PACKAGES[@]}")

log "running: ${APT_INSTALL[*]}"
if ! "${APT_INSTALL[@]}"; then
    log "install failed (package lists missing or stale?); running apt-get update and retrying"
    if ! "${SUDO[@]}" apt-get update; then
        log "ERROR: apt-get update failed: cannot reach the Debian package mirror"
        exit 3
    fi
    if ! "${APT_INSTALL[@]}"; then
        log "ERROR: apt-get install ${PACKAGES[*]} failed"
        exit 3
    fi
fi

if [ "$CHROMIUM" != "/usr/bin/chromium" ] && ! chromium_runs; then
    if CHROMIUM=/usr/bin/chromium chromium_runs; then
        log "ERROR: /usr/bin/chromium is installed, but \$CHROMIUM=$CHROMIUM does not run: unset CHROMIUM or set it to /usr/bin/chromium"
        exit 4
    fi
fi
if ! chromium_runs; then
    log "ERROR: Chromium was installed but $CHROMIUM does not run (try: $CHROMIUM --headless --no-sandbox --version)"
    exit 4
fi
log "Chromium is ready"
