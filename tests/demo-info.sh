#!/usr/bin/env bash
# Printed at the end of `make demo`: where the local deployment answers.
set -euo pipefail
host=bbdash-demo
address=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$host" 2>/dev/null || true)
if [ -z "$address" ]; then
  echo "The demo host ($host) is not running: run make demo." >&2
  exit 1
fi
cat <<INFO

================================================================================
 Bloomberg Dashboard: local deployment ready (test host: $host, $address)

   Dashboard   https://127.0.0.1:8443/   (or https://$address/)
               self-signed certificate: accept it, or trust .cache/local/ca.crt
   Login       admin / the vault's grafana admin password:
               ansible-vault view --vault-password-file .cache/local/vault-pass \\
                 inventories/local/group_vars/all/vault.yml | grep grafana_admin
   SSH         ssh -i .cache/local/id_ed25519 bbadmin@$address
   Rerun       make rerun      (second run: nothing changes)
   Remove      make demo-destroy

 OFFLINE KIT IN USE: images were built locally from Debian's packages, and
 Grafana, InfluxDB 2 and cAdvisor are TEST DOUBLES (tests/doubles/), not the
 real software. On a real VPS the roles deploy the pinned upstream images.
================================================================================
INFO
