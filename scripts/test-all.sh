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

step "Rust: unit and integration tests (real server binary, real HTTP, real SQLite files)"
# The SDK and example tests start target/debug/naano-server.
cargo build --quiet -p naano-server
cargo test --workspace

step "JavaScript: the landing-page script (node's test runner)"
node --test server/tests/js/

step "All suites passed"
