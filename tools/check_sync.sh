#!/usr/bin/env bash
# Fail if nbdev_export or nbdev_clean would change a committed file. Runs on a copy, so it never
# rewrites your working tree.
set -euo pipefail
top=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Copy the working tree's tracked and untracked (not ignored) files.
(cd "$top" && git ls-files -co --exclude-standard -- settings.ini nbs course_helpers | tar -cf - -T -) | tar -x -C "$tmp"
cp -r "$tmp" "$tmp.orig"; trap 'rm -rf "$tmp" "$tmp.orig"' EXIT
(cd "$tmp" && nbdev_export && nbdev_clean) >/dev/null
if ! diff -r -q "$tmp.orig" "$tmp" -x __pycache__ ; then
  echo "nbdev_export/nbdev_clean would change the files above: run them and commit the result." >&2
  exit 1
fi
echo "library and notebooks in sync"
