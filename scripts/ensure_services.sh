#!/usr/bin/env bash
# Install what the integration tests start throwaway instances of, if any is missing (idempotent): Debian packages,
# then the npm packages of the test OIDC provider.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A binary_of=(
  [mosquitto]=/usr/sbin/mosquitto
  [postgresql]=/usr/lib/postgresql
  [chromium]=/usr/bin/chromium
  [victoria-metrics]=/usr/bin/victoria-metrics  # speaks InfluxDB v2's write API: the InfluxDB sink's tests
  [nodejs]=/usr/bin/node  # the test OIDC provider; oidc-provider 9 wants Node >= 20.19 (the machine's, not bookworm's 18)
  [npm]=/usr/bin/npm
)
missing=()
for package in "${!binary_of[@]}"; do
  [ -e "${binary_of[$package]}" ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
fi

# The OIDC tests' provider (tests/fixtures/oidc_provider): exactly the versions of its committed package-lock.json.
provider=tests/fixtures/oidc_provider
if [ ! -f "$provider/node_modules/.package-lock.json" ] \
  || [ "$provider/package-lock.json" -nt "$provider/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$provider" --no-audit --no-fund
fi
