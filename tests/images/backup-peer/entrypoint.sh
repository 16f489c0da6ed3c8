#!/bin/sh
# TEST HELPER (bbdash-backup-peer): install the host key and the backup user's
# public key given in /run/bbdash-peer, then run sshd in the foreground,
# logging to stderr (docker logs).
#   /run/bbdash-peer/ssh_host_ed25519_key   the peer's host key (pinned by the test host)
#   /run/bbdash-peer/authorized_key.pub     the backup job's public key
# The key may only run rrsync, confined to /srv/backup/bloomberg.
set -eu
src=/run/bbdash-peer
install -m 0600 -o root -g root "$src/ssh_host_ed25519_key" /etc/ssh/ssh_host_ed25519_key
mkdir -p /srv/backup/bloomberg
chown bbbackup:bbbackup /srv/backup/bloomberg
chmod 0700 /srv/backup/bloomberg
printf 'restrict,command="/usr/bin/rrsync /srv/backup/bloomberg" %s\n' "$(cat "$src/authorized_key.pub")" \
  > /etc/ssh/authorized_keys/bbbackup
chmod 0644 /etc/ssh/authorized_keys/bbbackup
/usr/sbin/sshd -t
exec /usr/sbin/sshd -D -e
