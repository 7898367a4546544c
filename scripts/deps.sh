#!/usr/bin/env bash
# Installs the Debian packages ledgerd builds and tests with, if any is missing.
# Idempotent: does nothing when everything is already installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  liblmdb-dev lmdb-utils
  libprotobuf-c-dev protobuf-c-compiler
  libuv1-dev libnanomsg-dev
  libcmocka-dev libsodium-dev nettle-dev libjansson-dev libinih-dev libmicrohttpd-dev
  gnuplot-nox gcovr
  clang libclang-rt-14-dev
  python3 python3-protobuf protobuf-compiler python3-lmdb python3-cryptography
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
