#!/usr/bin/env bash
# Wheelhouse for the feeders image (files/feeders/Dockerfile) on the offline
# test host: every runtime dependency of files/feeders/pyproject.toml, plus
# setuptools to build the project, as binary wheels for the image's Python
# (bbdash-offline/debian:bookworm: CPython 3.11, glibc 2.36, x86-64), so that
# the image build inside the test host installs with `pip install --no-index`
# and never needs PyPI. Written to .cache/wheels/ (the local inventory's
# feeders_wheelhouse_dir); skipped when the pinned requirements did not change.
#
#   bash tests/images/build-wheelhouse.sh        # called by `make images`
#
# Downloads run on the controller (this machine reaches PyPI); the wheels are
# chosen for the target with pip's --python-version/--platform, not for the
# controller's own Python.
#
# A second, separate wheelhouse, .cache/wheels-capture/, holds the pinned
# dependencies of the TEST HELPER tests/capture/capture_server.py (aiosmtpd),
# for its image (tests/images/capture/Dockerfile); kept apart so that the
# feeders image never changes because of a test helper.
#
#   bash tests/images/build-wheelhouse.sh capture   # only that one (build-stack.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/images/lib.sh
. "$here/lib.sh"

only="${1:-all}"
python="${BBDASH_WHEELHOUSE_PYTHON:-$top/.venv/bin/python}"
[ -x "$python" ] || python=python3
pyproject="$top/files/feeders/pyproject.toml"

# The image's interpreter and C library: wheels for anything newer would not load.
py_version=3.11
abi=cp311
glibc_minor=36
platforms=(manylinux1_x86_64 manylinux2010_x86_64 manylinux2014_x86_64)
for minor in $(seq 5 "$glibc_minor"); do platforms+=("manylinux_2_${minor}_x86_64"); done

wheelhouse() {  # output folder, requirements (one a line)
  local out=$1 requirements=$2
  local stamp="$out/.inputs" inputs tmp bad p
  inputs=$(printf '%s\n%s\n%s\n' "cp$py_version $abi glibc2.$glibc_minor x86_64" "${platforms[*]}" "$requirements" \
           | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] && compgen -G "$out/*.whl" >/dev/null; then
    log "wheelhouse $out is current ($inputs, $(find "$out" -name '*.whl' | wc -l) wheels)"
    return 0
  fi
  log "downloading wheels for CPython $py_version x86_64 into $out"
  mkdir -p "${out%/*}"
  tmp=$(mktemp -d "${out%/*}/.wheels.XXXXXX")
  # shellcheck disable=SC2064  # expanded now: the folder of this call
  trap "rm -rf '$tmp'" EXIT
  printf '%s\n' "$requirements" > "$tmp/requirements.txt"
  local platform_args=()
  for p in "${platforms[@]}"; do platform_args+=(--platform "$p"); done
  "$python" -m pip download --quiet --disable-pip-version-check \
      --dest "$tmp/wheels" --only-binary=:all: \
      --python-version "$py_version" --implementation cp --abi "$abi" "${platform_args[@]}" \
      -r "$tmp/requirements.txt"

  # Every file must be a wheel the image can install (no sdist slipped through).
  bad=$(find "$tmp/wheels" -type f ! -name '*.whl' -printf '%f\n')
  [ -z "$bad" ] || { log "not wheels: $bad"; exit 1; }

  rm -rf "$out.old"
  [ ! -d "$out" ] || mv "$out" "$out.old"
  mv "$tmp/wheels" "$out"
  rm -rf "$out.old" "$tmp"
  trap - EXIT
  printf '%s\n' "$inputs" > "$stamp"
  log "wheelhouse ready: $out ($(find "$out" -name '*.whl' | wc -l) wheels, $(du -sh "$out" | cut -f1))"
}

if [ "$only" != capture ]; then
  # Runtime requirements and the build backend, exactly as pinned in pyproject.toml.
  requirements=$("$python" - "$pyproject" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as fh:
    data = tomllib.load(fh)
print("\n".join(data["project"]["dependencies"] + data["build-system"]["requires"]))
EOF
  )
  wheelhouse "${BBDASH_WHEELHOUSE:-$top/.cache/wheels}" "$requirements"
fi
# The capture server's pins (comments and blank lines left out).
wheelhouse "$top/.cache/wheels-capture" "$(grep -vE '^\s*(#|$)' "$top/tests/capture/requirements.txt")"
