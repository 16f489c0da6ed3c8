#!/usr/bin/env bash
# Build the TEST HELPER bbdash-testhelper/sshd (tests/images/backup-peer/): the
# off-site backup target of the molecule test host, sshd + rsync from Debian's
# packages on the offline Debian base image. Saved to its own archive,
# .cache/images/bbdash-backup-peer.tar (never in the kit's: no role deploys it),
# which molecule/default/prepare_backup_peer.yml loads into the test host.
# Rebuilt only when its inputs changed; the archive rewritten only when it was.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/images/lib.sh
. "$here/lib.sh"
out="$top/.cache/images"
archive="$out/bbdash-backup-peer.tar"
tag="bbdash-testhelper/sshd:test"
context="$here/backup-peer"
mkdir -p "$out"

base="$IMAGE_PREFIX/debian:bookworm"
base_id=$(docker image inspect -f '{{.Id}}' "$base")
hash=$( { echo "$base_id"; find "$context" -type f -print0 | sort -z | xargs -0 cat; } \
        | sha256sum | cut -c1-16)
if image_is_current "$tag" "$hash"; then
  log "$tag is current ($hash)"
else
  log "building $tag"
  docker build -q -t "$tag" --build-arg BASE_IMAGE="$base" --label "$INPUT_LABEL=$hash" \
      "$context" >/dev/null
  rm -f "$archive"
fi
if [ ! -s "$archive" ]; then
  log "saving the backup peer test helper to $archive"
  docker save -o "$archive.tmp" "$tag"
  mv "$archive.tmp" "$archive"
fi
