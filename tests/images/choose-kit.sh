#!/usr/bin/env bash
# Which images `make demo` deploys, printed as the inventory group to join:
#   registry     Docker Hub answers: the roles pull their pinned upstream images;
#   offline_kit  it does not: locally built images and TEST DOUBLES (tests/images/).
# BBDASH_OFFLINE_KIT=yes|no forces the choice; auto (the default) asks Docker Hub.
set -euo pipefail
case "${BBDASH_OFFLINE_KIT:-auto}" in
  yes | true | 1) echo offline_kit ;;
  no | false | 0) echo registry ;;
  auto)
    # The registry answers 401 (authentication required) to anyone who reaches it.
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 https://registry-1.docker.io/v2/ || true)
    if [ "$code" = 401 ] || [ "$code" = 200 ]; then echo registry; else echo offline_kit; fi
    ;;
  *)
    echo "BBDASH_OFFLINE_KIT must be yes, no or auto (got ${BBDASH_OFFLINE_KIT})" >&2
    exit 2
    ;;
esac
