#!/bin/sh
# Puts Kamailio 6.0.7's stock configuration (etc/kamailio.cfg at tag 6.0.7) into
# scratch/stock/kamailio-6.0.cfg, which is git-ignored: the file is Kamailio's and is never
# committed here. tests/stock_cfg.rs runs it on ferrosip and Kamailio (docs/stock-config.md).
#
#   scripts/fetch-stock-cfg.sh                 download from raw.githubusercontent.com (curl)
#   scripts/fetch-stock-cfg.sh FILE            copy a local copy of the file
#   scripts/fetch-stock-cfg.sh --git GITDIR    take it from a kamailio git clone/mirror
#
# The copy is checked against the SHA-256 of the 6.0.7 file. Instead of running this script,
# the test also takes FERROSIP_STOCK60_CFG=/path/to/kamailio.cfg.
set -eu

TAG=6.0.7
SHA256=862f870e6e43fa40beb86fa3f39e286af93035a339ee94e893ebf318267c4f28
URL="https://raw.githubusercontent.com/kamailio/kamailio/$TAG/etc/kamailio.cfg"

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/scratch/stock/kamailio-6.0.cfg"
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT

case "${1:-}" in
  "")
    command -v curl >/dev/null || { echo "curl not found; pass a FILE or --git GITDIR" >&2; exit 1; }
    curl -fsSL --max-time 60 "$URL" -o "$tmp" || {
      echo "download of $URL failed; pass a FILE or --git GITDIR" >&2; exit 1; }
    ;;
  --git)
    [ $# -eq 2 ] || { echo "usage: $0 --git GITDIR" >&2; exit 2; }
    git --git-dir="$2" show "$TAG:etc/kamailio.cfg" > "$tmp"
    ;;
  -h|--help)
    sed -n '2,11p' "$0"; exit 0
    ;;
  *)
    cp "$1" "$tmp"
    ;;
esac

got=$(sha256sum "$tmp" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "not Kamailio $TAG's etc/kamailio.cfg (sha256 $got)" >&2
  exit 1
fi
mv "$tmp" "$out"
echo "$out"
