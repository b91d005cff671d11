#!/bin/sh
# Puts github.com/kamailio/kamailio-tests (pinned commit) into scratch/kamailio-tests, which is
# git-ignored: the units are Kamailio's (GPL-2.0) and are never committed here.
# tests/kamailio_tests.rs runs some of its units with KAMBIN pointing at ferrosip.
#
#   scripts/fetch-kamailio-tests.sh              git clone from github.com
#   scripts/fetch-kamailio-tests.sh --git GITDIR take it from a local clone/mirror
#
# Instead of running this script, the test also takes FERROSIP_KTESTS=/path/to/kamailio-tests.
set -eu

COMMIT=b5ba961e0e58e1677ebea724dfbe0522309209d9
URL=https://github.com/kamailio/kamailio-tests

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/scratch/kamailio-tests"
src="$URL"
case "${1:-}" in
  "") ;;
  --git)
    [ $# -eq 2 ] || { echo "usage: $0 [--git GITDIR]" >&2; exit 2; }
    src="$2"
    ;;
  -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--git GITDIR]" >&2; exit 2 ;;
esac

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
GIT_TERMINAL_PROMPT=0 timeout 120 git clone -q "$src" "$tmp" || {
  echo "clone of $src failed; pass --git GITDIR" >&2; exit 1; }
git -C "$tmp" checkout -q "$COMMIT" || {
  echo "commit $COMMIT not found in $src" >&2; exit 1; }
rm -rf "$out"
mv "$tmp" "$out"
echo "$out"
