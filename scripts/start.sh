#!/usr/bin/env bash
# Starts the daemon on its default data directory, ./ledger-data (created and
# initialized on first start), installing and building what is missing first.
# Extra arguments go to ledgerd (see `ledgerd --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target ledgerd ledgerctl ledger-verify
exec ./build/daemon/ledgerd "$@"
