# Shared helpers for the offline image kit (sourced, not run).
# shellcheck shell=bash

IMAGE_PREFIX="${BBDASH_IMAGE_PREFIX:-bbdash-offline}"
INPUT_LABEL="org.bbdash.inputs"

log() { printf '[images] %s\n' "$*" >&2; }

# The machine's own Debian mirror, read from its apt sources: the project never
# hard-codes a mirror address.
debian_mirror() {
  local uri
  uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { log "no Debian mirror found in this machine's apt sources"; return 1; }
  printf '%s\n' "$uri"
}

# The machine's Debian security mirror (empty when it has none).
debian_security_mirror() {
  grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '{print $2}' | grep -- '-security' | head -n1 || true
}

# Hash of every file that goes into an image, so unchanged inputs skip the build.
inputs_hash() {
  cat "$@" | sha256sum | cut -c1-16
}

image_is_current() {  # image, hash
  local have
  have=$(docker image inspect -f "{{ index .Config.Labels \"$INPUT_LABEL\" }}" "$1" 2>/dev/null || true)
  [ "$have" = "$2" ]
}

# The machine's extra CA certificates (an egress proxy signs outbound HTTPS
# here). Copied into build contexts at build time, never committed.
copy_machine_cas() {  # dest dir
  mkdir -p "$1"
  find /usr/local/share/ca-certificates -maxdepth 1 -name '*.crt' -exec cp {} "$1"/ \; 2>/dev/null || true
}

# apt-get install that waits for other apt users (CI steps, parallel builds)
# instead of failing on the lock.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A TEST HELPER image (never deployed by a role) on the offline Debian base:
# built only when its inputs changed (base image, Dockerfile, context), saved to
# its own archive, which is rewritten when it holds other inputs than these
# (the hash beside it): another checkout on the same Docker engine may have
# built the image already, leaving this checkout's archive behind.
build_helper_image() {  # tag dockerfile context archive
  local tag=$1 dockerfile=$2 context=$3 archive=$4 base base_id hash
  base="$IMAGE_PREFIX/debian:bookworm"
  base_id=$(docker image inspect -f '{{.Id}}' "$base")
  hash=$( { echo "$base_id"; cat "$dockerfile"; find "$context" -type f -print0 | sort -z | xargs -0 cat; } \
          | sha256sum | cut -c1-16)
  if image_is_current "$tag" "$hash"; then
    log "$tag is current ($hash)"
  else
    log "building $tag"
    docker build -q -t "$tag" -f "$dockerfile" --build-arg BASE_IMAGE="$base" \
        --label "$INPUT_LABEL=$hash" "$context" >/dev/null
  fi
  if [ ! -s "$archive" ] || [ "$(cat "$archive.inputs" 2>/dev/null)" != "$hash" ]; then
    log "saving the test helper $tag to $archive"
    mkdir -p "$(dirname "$archive")"
    docker save -o "$archive.tmp" "$tag"
    mv "$archive.tmp" "$archive"
    echo "$hash" > "$archive.inputs"
  fi
}
