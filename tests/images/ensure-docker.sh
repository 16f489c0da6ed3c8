#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine (the build/CI machine, not
# the test host). Build machines start bare and run no systemd: install
# Debian's docker.io when dockerd is missing and start it in the background.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  # shellcheck source=tests/images/lib.sh
  . "$(dirname "$0")/lib.sh"
  apt_install docker.io
fi

# A dockerd killed with the previous session leaves its pid file behind, and a
# new one refuses to start while it exists.
if [ -f /var/run/docker.pid ] && ! pgrep -x dockerd >/dev/null; then
  rm -f /var/run/docker.pid
fi
if [ -S /run/containerd/containerd.sock ] && ! pgrep -x containerd >/dev/null; then
  rm -f /run/containerd/containerd.sock
fi

if ! pgrep -x dockerd >/dev/null; then
  log "starting dockerd (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "docker engine ready: $(docker version --format '{{.Server.Version}}')"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/dockerd.log"
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
