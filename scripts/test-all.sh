#!/usr/bin/env bash
# The one front door: installs what the tests need, then builds, lints and tests every
# part of the project. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Rust: format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Rust: docs build without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet -p naano -p naano-core --all-features

step "Test data: public IP-to-ASN CSVs (npm pack @ip-location-db/asn, pinned version)"
./scripts/fetch-asn-data.sh

step "PostgreSQL: start the local server if needed (the suite fails if it cannot)"
NAANO_TEST_PG_URL="$(./scripts/start-postgres.sh)"
export NAANO_TEST_PG_URL
# Throwaway databases of earlier runs.
psql "$NAANO_TEST_PG_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'naano_test_%'" |
  while read -r db; do psql "$NAANO_TEST_PG_URL" -qc "DROP DATABASE \"$db\"" >/dev/null; done

step "Rust: unit and integration tests (real server binary, real HTTP, real SQLite files; scale-out and outage on PostgreSQL)"
# The SDK and example tests start target/debug/naano-server; the inference tests also
# start the fake enrichment service (a testkit binary).
cargo build --quiet -p naano-server -p naano-testkit --bins
# The Python and Node addons are cdylibs for their hosts; their own suites test them below.
cargo test --workspace --exclude naano-python --exclude naano-node

step "Rust: the server's integration suite again, on PostgreSQL (a throwaway database per server)"
NAANO_TEST_BACKEND=postgres cargo test -p naano-server --test webhook --test redirect --test admin --test inference --test binary

step "Python: build the naano package (maturin, via pip) into a virtualenv, with the test tools"
VENV="${NAANO_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
# A dev-profile build reuses the Rust artifacts the tests above just compiled.
MATURIN_PEP517_ARGS="--profile dev" "$VENV/bin/pip" install --quiet --force-reinstall --no-deps ./sdk-python
"$VENV/bin/pip" install --quiet "pytest>=8" "flask>=2.3" "django>=4.2" "gunicorn>=21" "mypy>=1.8" "starlette>=0.37"

step "Python: API, Flask, Django, fork/gunicorn, threads, asyncio and stub tests (pytest)"
"$VENV/bin/python" -m pytest -q sdk-python/tests

step "Node: build the native addon (napi-rs) and the examples' dependencies"
(cd sdk-node && npm install --no-audit --no-fund --loglevel=error && npm run --silent build:debug)
(cd examples/express-app && npm install --no-audit --no-fund --loglevel=error)

step "Node: API, Express, Next.js, process lifetime, event loop and TypeScript tests (node --test)"
(cd sdk-node && node --test __test__/)

step "JavaScript: the landing-page script (node's test runner)"
node --test server/tests/js/

step "All suites passed"
