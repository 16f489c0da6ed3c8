#!/usr/bin/env bash
# Build the TEST HELPER bbdash-testhelper/capture (tests/capture/): the far end
# of every alert channel of the local deployment (fake Telegram Bot API, SMTP
# sink, webhook captures), on the offline Debian base image with its pinned
# wheels (build-wheelhouse.sh capture). Saved to its own archive,
# .cache/test-helpers/bbdash-capture.tar (never in the kit's: no role deploys
# it; the scenarios mount that folder at /var/cache/bbdash-test-helpers),
# which the molecule scenarios' prepare.yml loads into the test host. Run by
# build-stack.sh, and by `make demo` and the real-images workflow, which deploy
# the registry's images but still need the channels' far end.
# Rebuilt only when its inputs changed; the archive rewritten only when it was.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/images/lib.sh
. "$here/lib.sh"
out="$top/.cache/test-helpers"
archive="$out/bbdash-capture.tar"
tag="bbdash-testhelper/capture:test"
context="$out/capture-context"
mkdir -p "$out"

bash "$here/build-wheelhouse.sh" capture
rm -rf "$context" && mkdir -p "$context"
cp "$top/tests/capture/capture_server.py" "$top/tests/capture/requirements.txt" "$context/"
cp -r "$top/.cache/wheels-capture" "$context/wheels"
rm -f "$context/wheels/.inputs"

base="$IMAGE_PREFIX/debian:bookworm"
base_id=$(docker image inspect -f '{{.Id}}' "$base")
hash=$( { echo "$base_id"; cat "$here/capture/Dockerfile"; find "$context" -type f -print0 | sort -z | xargs -0 cat; } \
        | sha256sum | cut -c1-16)
if image_is_current "$tag" "$hash"; then
  log "$tag is current ($hash)"
else
  log "building $tag"
  docker build -q -t "$tag" -f "$here/capture/Dockerfile" --build-arg BASE_IMAGE="$base" \
      --label "$INPUT_LABEL=$hash" "$context" >/dev/null
  rm -f "$archive"
fi
if [ ! -s "$archive" ]; then
  log "saving the capture test helper to $archive"
  docker save -o "$archive.tmp" "$tag"
  mv "$archive.tmp" "$archive"
fi
