#!/usr/bin/env bash
# Build the TEST HELPER bbdash-testhelper/sshd (tests/images/backup-peer/): the
# off-site backup target of the molecule test host, sshd + rsync from Debian's
# packages on the offline Debian base image. Saved to its own archive,
# .cache/images/bbdash-backup-peer.tar (never in the kit's: no role deploys it),
# which molecule/default/prepare_backup_peer.yml loads into the test host.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=tests/images/lib.sh
. "$here/lib.sh"
build_helper_image bbdash-testhelper/sshd:test "$here/backup-peer/Dockerfile" "$here/backup-peer" \
  "$top/.cache/images/bbdash-backup-peer.tar"
