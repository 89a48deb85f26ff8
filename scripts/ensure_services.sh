#!/usr/bin/env bash
# Install the Debian packages the integration tests start throwaway instances of, if any is missing (idempotent).
set -euo pipefail

declare -A binary_of=(
  [mosquitto]=/usr/sbin/mosquitto
  [postgresql]=/usr/lib/postgresql
  [chromium]=/usr/bin/chromium
  [victoria-metrics]=/usr/bin/victoria-metrics  # speaks InfluxDB v2's write API: the InfluxDB sink's tests
)
missing=()
for package in "${!binary_of[@]}"; do
  [ -e "${binary_of[$package]}" ] || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
