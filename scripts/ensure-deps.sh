#!/usr/bin/env bash
# Installs what chive and its tests need and are missing: tor (>= 0.4.8, with
# tor-gencert for the private test network), tmux, and jq and python3 (the
# examples in docs/examples, run by the tests). As root it installs with
# apt-get; otherwise it prints the exact command and fails.
set -euo pipefail
missing=()
command -v tor >/dev/null 2>&1 || [ -x /usr/sbin/tor ] || missing+=(tor)
command -v tor-gencert >/dev/null 2>&1 || [ -x /usr/bin/tor-gencert ] || missing+=(tor)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[ ${#missing[@]} -eq 0 ] && exit 0
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $pkgs
else
  echo "chive needs: $pkgs" >&2
  echo "install with: sudo apt-get install -y $pkgs" >&2
  exit 1
fi
