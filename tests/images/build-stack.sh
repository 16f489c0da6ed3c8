#!/usr/bin/env bash
# Build every image the stack needs, offline, and save them into one archive
# that the test host loads (docker role: docker_offline_images_archive).
#   bbdash-offline/<name>     the real software from Debian's packages
#   bbdash-testdouble/<name>  TEST DOUBLES for what cannot be had here
# and, apart from the kit (it is no part of the stack), the TEST HELPER
#   bbdash-testhelper/capture  the alert channels' far ends (build-capture.sh)
#   bbdash-testhelper/sshd     the off-site backup peer (build-backup-peer.sh)
# each saved to its own archive that the molecule scenarios' prepare.yml loads.
# An image is rebuilt only when its inputs changed; the archive is rewritten
# only when an image did.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/images/lib.sh
. "$here/lib.sh"
out="$top/.cache/images"
archive="$out/bbdash-offline-images.tar"
mkdir -p "$out"

base="$IMAGE_PREFIX/debian:bookworm"
base_id=$(docker image inspect -f '{{.Id}}' "$base")
changed=0

build() {  # tag, context, dockerfile, extra build args...
  local tag=$1 context=$2 dockerfile=$3; shift 3
  local hash
  hash=$( { echo "$base_id $*"; cat "$dockerfile"; find "$context" -type f -not -name '*.pyc' -print0 \
            | sort -z | xargs -0 cat; } | sha256sum | cut -c1-16)
  if image_is_current "$tag" "$hash"; then
    log "$tag is current ($hash)"
    return 0
  fi
  log "building $tag"
  docker build -q -t "$tag" -f "$dockerfile" --build-arg BASE_IMAGE="$base" \
      --label "$INPUT_LABEL=$hash" "$@" "$context" >/dev/null
  changed=1
}

real_images=()
for name in postgres prometheus alertmanager node-exporter nginx; do
  build "$IMAGE_PREFIX/$name:debian" "$here/$name" "$here/$name/Dockerfile"
  real_images+=("$IMAGE_PREFIX/$name:debian")
done
doubles=()
for name in grafana influxdb cadvisor; do
  build "bbdash-testdouble/$name:test" "$top/tests/doubles" "$here/doubles/Dockerfile" --build-arg DOUBLE="$name"
  doubles+=("bbdash-testdouble/$name:test")
done

if [ "$changed" = 1 ] || [ ! -s "$archive" ]; then
  log "saving $(( ${#real_images[@]} + ${#doubles[@]} + 1 )) images to $archive"
  docker save -o "$archive.tmp" "$base" "${real_images[@]}" "${doubles[@]}"
  mv "$archive.tmp" "$archive"
fi
# The TEST HELPERS, each in an archive of its own: the alert channels' far end
# and the off-site backup peer.
bash "$here/build-capture.sh"
bash "$here/build-backup-peer.sh"
log "offline kit ready: $archive ($(du -h "$archive" | cut -f1))"
