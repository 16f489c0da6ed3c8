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
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/images/lib.sh
. "$here/lib.sh"
out="$top/.cache/test-helpers"
context="$out/capture-context"
mkdir -p "$out"

bash "$here/build-wheelhouse.sh" capture
rm -rf "$context" && mkdir -p "$context"
cp "$top/tests/capture/capture_server.py" "$top/tests/capture/fake_market_history.py" \
  "$top/tests/capture/requirements.txt" "$context/"
cp -r "$top/tests/capture/payloads" "$context/payloads"
cp -r "$top/.cache/wheels-capture" "$context/wheels"
rm -f "$context/wheels/.inputs"

build_helper_image bbdash-testhelper/capture:test "$here/capture/Dockerfile" "$context" \
  "$out/bbdash-capture.tar"
