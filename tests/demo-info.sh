#!/usr/bin/env bash
# Printed by `make demo`: with --offline-banner before deploying with the
# offline kit, and at the end, where the local deployment answers and which
# images it runs.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
kit=$(cat "$top/.cache/local/demo-kit" 2>/dev/null || echo offline_kit)

offline_banner() {
  cat <<'BANNER'

################################################################################
 OFFLINE KIT IN USE: Docker Hub did not answer, so the demo deploys images
 built on this machine from Debian's packages (PostgreSQL, Prometheus,
 Alertmanager, node-exporter, nginx: the real software) and TEST DOUBLES for
 Grafana, InfluxDB 2 and cAdvisor (tests/doubles/): NOT the real software.
 On a machine that reaches Docker Hub, `make demo` deploys the pinned upstream
 images (BBDASH_OFFLINE_KIT=yes|no forces the choice).
################################################################################

BANNER
}

if [ "${1:-}" = --offline-banner ]; then
  offline_banner
  exit 0
fi

host=bbdash-demo
address=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$host" 2>/dev/null || true)
if [ -z "$address" ]; then
  echo "The demo host ($host) is not running: run make demo." >&2
  exit 1
fi
# The local CA that signed nginx's certificate (certbot_tls_mode: selfsigned).
ca="$top/.cache/local/ca.crt"
docker exec "$host" cat /opt/bloomberg/secrets/certbot/ca.pem > "$ca" 2>/dev/null || rm -f "$ca"
trust=$([ -f "$ca" ] && echo "accept it, or trust .cache/local/ca.crt" || echo "accept it")
cat <<INFO

================================================================================
 Bloomberg Dashboard: local deployment ready (test host: $host, $address)

   Dashboard   https://localhost:8443/   (the certificate names localhost;
               https://$address/ works too, with a name warning)
               certificate from a local CA: $trust
   Login       admin / the vault's grafana admin password:
               ansible-vault view --vault-password-file .cache/local/vault-pass \\
                 inventories/local/group_vars/all/vault.yml | grep grafana_admin
               or trader (the desk's user, bloomberg_users) / ... | grep trader
   SSH         ssh -i .cache/local/id_ed25519 bbadmin@$address
   Rerun       make rerun      (second run: nothing changes)
   Remove      make demo-destroy
================================================================================
INFO
if [ "$kit" = offline_kit ]; then
  offline_banner
else
  echo " Images: the pinned upstream images, pulled from their registries."
fi
