#!/usr/bin/env bash
# Fetches the public IP-to-ASN data (the `@ip-location-db/asn` npm package, CC BY 4.0)
# that the tests and benchmarks import, into target/test-data/asn/package/. The version
# is pinned so that the known-address assertions stay reproducible; a user importing
# for production takes the latest (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${NAANO_ASN_DATA_VERSION:-2.3.2026061719}"
DEST=target/test-data/asn
if [ -f "$DEST/package/asn-ipv4.csv" ] && [ "$(cat "$DEST/VERSION" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
rm -rf "$DEST"
mkdir -p "$DEST"
(
  cd "$DEST"
  npm pack --silent "@ip-location-db/asn@$VERSION" >/dev/null
  tar xzf ip-location-db-asn-*.tgz
  rm -f ip-location-db-asn-*.tgz
)
echo "$VERSION" >"$DEST/VERSION"
echo "fetched @ip-location-db/asn@$VERSION into $DEST/package"
