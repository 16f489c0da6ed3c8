#!/usr/bin/env bash
# System packages the test suite and the local deployment need on the
# controller (this machine), from Debian's archive. Idempotent.
set -euo pipefail
# shellcheck source=tests/images/lib.sh
. "$(dirname "$0")/images/lib.sh"
apt_install \
  docker.io debootstrap \
  postgresql \
  prometheus prometheus-alertmanager \
  nginx-light prometheus-node-exporter \
  openssh-client nmap lynis \
  docker-registry \
  wrk
# node runs Flux's type checker; the machine image may already carry a
# node with its own npm (which Debian's npm package would conflict with).
command -v npm >/dev/null || apt_install nodejs npm
# The presentation layer's outside-in checks: a headless browser loading the
# site through nginx, and testssl.sh's scan beside sslyze's (requirements-dev.txt).
apt_install chromium testssl.sh
