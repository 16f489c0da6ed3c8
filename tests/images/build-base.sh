#!/usr/bin/env bash
# Build the two base images everything else starts from, offline:
#   bbdash-offline/testhost  Debian 12 with systemd: stands in for a fresh VPS
#   bbdash-offline/debian    Debian 12 minbase: FROM image for the service images
# debootstrap reads Debian's archive (reachable here); `docker import` turns
# the root file system into an image. Skipped when the inputs did not change.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/images/lib.sh
. "$here/lib.sh"

# What a fresh cloud VPS image has: systemd, sshd, python3 (with apt bindings
# for Ansible), sudo, cron.
TESTHOST_PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,iproute2,ca-certificates,openssh-server,cron,procps,kmod,gnupg,curl"
BASE_PACKAGES="ca-certificates,python3,python3-venv,curl"

build_rootfs_image() {  # name, packages, variant, cmd, keep apt lists (yes/no)
  local name=$1 packages=$2 variant=$3 cmd=$4 variant_keep_lists=$5
  local hash
  hash=$(printf '%s|%s|%s|%s|%s' "$packages" "$variant" "$cmd" "$variant_keep_lists" "$(inputs_hash "$here/build-base.sh" "$here/lib.sh")" | sha256sum | cut -c1-16)
  if image_is_current "$name" "$hash"; then
    log "$name is current ($hash), not rebuilt"
    return 0
  fi
  local mirror rootfs
  mirror=$(debian_mirror)
  rootfs=$(mktemp -d /var/tmp/bbdash-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' RETURN
  log "debootstrap $name (variant $variant)"
  debootstrap --variant="$variant" --include="$packages" bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 30 "$rootfs.log" >&2; return 1; }
  rm -f "$rootfs.log"
  # A fresh VPS also follows security updates (unattended-upgrades and
  # lynis look for them).
  if [ "$variant_keep_lists" = yes ]; then
    local security
    security=$(debian_security_mirror)
    if [ -n "$security" ]; then
      printf 'deb %s bookworm-security main\n' "$security" >> "$rootfs/etc/apt/sources.list"
      chroot "$rootfs" apt-get update -qq >/dev/null 2>&1 || true
    fi
  fi
  # Trust the machine's extra CAs so HTTPS to the package registries works
  # from inside (read at build time, never stored in the repository).
  copy_machine_cas "$rootfs/usr/local/share/ca-certificates"
  chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || true
  # Like a cloud image, the test host keeps its apt lists (Ansible's apt
  # cache_valid_time trusts them); service bases drop them to stay small.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb
  [ "$variant_keep_lists" = yes ] || rm -rf "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
      -c "CMD $cmd" \
      -c "LABEL $INPUT_LABEL=$hash" \
      -c "LABEL org.bbdash.offline-kit=true" \
      - "$name" >/dev/null
  log "built $name ($hash)"
}

apt_install debootstrap
build_rootfs_image "$IMAGE_PREFIX/testhost:bookworm" "$TESTHOST_PACKAGES" minbase '["/lib/systemd/systemd"]' yes &
p1=$!
build_rootfs_image "$IMAGE_PREFIX/debian:bookworm" "$BASE_PACKAGES" minbase '["/bin/bash"]' no &
p2=$!
wait $p1; wait $p2
