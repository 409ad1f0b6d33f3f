#!/usr/bin/env bash
# The project's clang-format for native/: one pinned version, the PyPI wheel clang-format (its
# static binary, unpacked into .deps/clang-format/ on first use with pip, as setup.sh does for
# MLX), so every machine formats alike and nothing needs installing system-wide.
#
#   bash scripts/clang-format.sh --check     fail (exit 1), naming each place, if any file of
#                                            native/ differs from .clang-format's style
#   bash scripts/clang-format.sh --fix       format native/ in place
#   bash scripts/clang-format.sh --install   only fetch it (scripts/setup.sh calls this)
#   bash scripts/clang-format.sh ARGS...     run it with ARGS
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=21.1.8
PY=${PYTHON:-python3}
dir=.deps/clang-format
bin=$dir/clang-format

die() { printf 'clang-format.sh: error: %s\n' "$*" >&2; exit 1; }

install() {
  [ -x "$bin" ] && [ -f "$dir/.version-$VERSION" ] && return
  printf 'clang-format.sh: fetching clang-format %s (PyPI wheel) into %s\n' "$VERSION" "$dir" >&2
  local tmp
  tmp=$(mktemp -d)
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "clang-format==$VERSION" >&2 \
    || { rm -rf "$tmp"; die "could not download clang-format==$VERSION with pip (python3 -m pip is needed)"; }
  rm -rf "$dir"
  mkdir -p "$dir"
  # Only the binary: the wheel's Python entry point would tie it to one interpreter.
  "$PY" - "$tmp"/clang_format-*.whl "$bin" <<'PYEOF'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(("/bin/clang-format", "/bin/clang-format.exe")))
    with z.open(name) as src, open(dest, "wb") as out:
        out.write(src.read())
os.chmod(dest, 0o755)
PYEOF
  rm -rf "$tmp"
  touch "$dir/.version-$VERSION"
}

sources() { find native -type f \( -name '*.cc' -o -name '*.h' \) | LC_ALL=C sort; }

install
case "${1:-}" in
  --install) ;;
  --check)
    sources | xargs "$bin" --dry-run --Werror \
      || die "native/ is not formatted as .clang-format says: run \`npm run format:native\`"
    ;;
  --fix) sources | xargs "$bin" -i ;;
  *) exec "$bin" "$@" ;;
esac
