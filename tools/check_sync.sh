#!/usr/bin/env bash
# Fail if nbdev_export or nbdev_clean would change a committed file. Runs on a copy, so it never
# rewrites your working tree.
set -euo pipefail
top=$(git rev-parse --show-toplevel)
cd "$top"
# The notebooks' and the library's folders, as settings.ini names them.
read -r nbs lib < <(python -c "from nbdev.config import get_config; c = get_config()
print(*(p.relative_to(c.config_path) for p in (c.nbs_path, c.lib_path)))")
tmp=$(mktemp -d); trap 'rm -rf "$tmp" "$tmp.orig"' EXIT
# Copy the working tree's tracked and untracked (not ignored) files.
git ls-files -co --exclude-standard -- settings.ini "$nbs" "$lib" | tar -cf - -T - | tar -x -C "$tmp"
cp -r "$tmp" "$tmp.orig"
(cd "$tmp" && nbdev_export && nbdev_clean) >/dev/null
if ! diff -r -q "$tmp.orig" "$tmp" -x __pycache__ ; then
  echo "nbdev_export/nbdev_clean would change the files above: run them and commit the result." >&2
  exit 1
fi
echo "library and notebooks in sync"
