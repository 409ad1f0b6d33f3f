#!/usr/bin/env bash
# Build the platform VSIX: build/vsix/semsearch-<version>-<target>.vsix
#
#  1. esbuild bundles (scripts/bundle.mjs): out/extension.js, out/server.js, out/cli.js, out/wasm/,
#     out/native/node_sqlite3.node;
#  2. the native addon out/native/semsearch.node (built with `npm run build:native` when missing);
#  3. a staging folder build/vsix/stage/ with only what the package needs. The addon's native
#     dependencies are placed beside it so that it loads on a machine without this repository:
#       native/semsearch.node        RUNPATH rewritten to $ORIGIN:$ORIGIN/mlx/lib (the CMake build
#                                    also lists the absolute MLX folder of this machine);
#       native/mlx/lib/libmlx.so     and native/mlx_cpu.libs/ (the wheel's layout: libmlx.so finds
#                                    them through its RPATH $ORIGIN/../../mlx_cpu.libs);
#       native/<lib>.so.N            every other library ldd resolves outside the base system
#                                    (OpenBLAS and its Fortran runtime), RUNPATH $ORIGIN;
#  4. `vsce package --no-dependencies --target <target>` in the staging folder (the repository's
#     .vscodeignore, an allow-list, is applied there).
#
# Needs: patchelf (Debian: apt-get install patchelf). Env: VSCE_TARGET (default linux-x64).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${VSCE_TARGET:-linux-x64}
VERSION=$(node -p 'require("./package.json").version')
NAME=$(node -p 'require("./package.json").name')
OUTDIR=$ROOT/build/vsix
STAGE=$OUTDIR/stage
VSIX=$OUTDIR/$NAME-$VERSION-$TARGET.vsix

say() { printf 'package: %s\n' "$*" >&2; }
die() { printf 'package: error: %s\n' "$*" >&2; exit 1; }

if ! command -v patchelf >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -qq patchelf >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq patchelf >/dev/null; }) || true
fi
command -v patchelf >/dev/null || die "patchelf not found (Debian: apt-get install patchelf)"

# --- 1, 2: bundles and the addon ------------------------------------------------------------------
node scripts/bundle.mjs
if [ ! -f out/native/semsearch.node ]; then
  say "out/native/semsearch.node missing: npm run build:native"
  npm run -s build:native >&2
fi
[ -f out/native/semsearch.node ] || die "out/native/semsearch.node was not built"
[ -f .deps/mlx-root ] || die ".deps/mlx-root missing: run scripts/setup.sh"
MLX_ROOT=$(head -n1 .deps/mlx-root)

# --- 3: staging folder ----------------------------------------------------------------------------
rm -rf "$STAGE"
mkdir -p "$STAGE/out/native/mlx/lib"
cp package.json .vscodeignore "$STAGE/"
[ -f README.md ] && cp README.md "$STAGE/"
[ -f LICENSE ] && cp LICENSE "$STAGE/"
[ -f CHANGELOG.md ] && cp CHANGELOG.md "$STAGE/"
cp out/extension.js out/sidecar.js out/server.js out/cli.js "$STAGE/out/"
cp -r out/wasm "$STAGE/out/wasm"
# Code adapters (server/model/adapters.ts): the sidecar builds derived models from them on first use.
mkdir -p "$STAGE/models/adapters" && cp models/adapters/*.safetensors "$STAGE/models/adapters/"
# The static model of the fast tier (server/model/static.ts finds models/static/ beside package.json).
mkdir -p "$STAGE/models/static" && cp models/static/model.safetensors models/static/tokenizer.json models/static/config.json models/static/SHA256SUMS "$STAGE/models/static/"
# The Hugging Face tokenizers binding, with the target's binary only (its index.js picks it by platform).
case "$TARGET" in
  linux-x64) TOK_BINARIES="linux-x64-gnu linux-x64-musl" ;;
  alpine-x64) TOK_BINARIES="linux-x64-musl" ;;
  linux-arm64) TOK_BINARIES="linux-arm64-gnu linux-arm64-musl" ;;
  darwin-arm64) TOK_BINARIES="darwin-arm64" ;;
  darwin-x64) TOK_BINARIES="darwin-x64" ;;
  win32-x64) TOK_BINARIES="win32-x64-msvc" ;;
  win32-arm64) TOK_BINARIES="win32-arm64-msvc" ;;
  *) TOK_BINARIES="" ;;
esac
TOK=$STAGE/out/node_modules/tokenizers
mkdir -p "$TOK" && cp node_modules/tokenizers/package.json node_modules/tokenizers/index.js node_modules/tokenizers/LICENSE "$TOK/"
for b in $TOK_BINARIES; do cp "node_modules/tokenizers/tokenizers.$b.node" "$TOK/"; done
[ -n "$TOK_BINARIES" ] || say "no tokenizers binary for $TARGET: the fast tier tokenizes with @huggingface/tokenizers (JavaScript)"
N=$STAGE/out/native
cp out/native/semsearch.node out/native/node_sqlite3.node "$N/"
cp "$MLX_ROOT/lib/libmlx.so" "$N/mlx/lib/"
# The Linux mlx-cpu wheel grafts its BLAS/LAPACK into mlx_cpu.libs/ beside mlx/.
[ -d "$MLX_ROOT/../mlx_cpu.libs" ] && cp -r "$MLX_ROOT/../mlx_cpu.libs" "$N/mlx_cpu.libs"
# Metal builds need mlx.metallib beside libmlx.
[ -f "$MLX_ROOT/lib/mlx.metallib" ] && cp "$MLX_ROOT/lib/mlx.metallib" "$N/mlx/lib/"
patchelf --set-rpath '$ORIGIN:$ORIGIN/mlx/lib' "$N/semsearch.node"

# Libraries every Linux desktop that runs VS Code has (glibc, the GCC runtime).
is_base() { case "$1" in linux-vdso.so*|ld-linux*|libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libstdc++.so*|libgcc_s.so*) return 0;; esac; return 1; }
# Copy what ldd resolves outside the stage and outside the base system, until nothing is left.
for _ in 1 2 3 4; do
  copied=0
  for obj in "$N"/*.node "$N"/*.so*; do
    [ -f "$obj" ] || continue
    while read -r soname _ resolved _; do
      is_base "$soname" && continue
      case "$resolved" in "$STAGE"/*) continue;; esac
      [ -f "$N/$soname" ] && continue
      [ -f "$resolved" ] || die "$(basename "$obj") needs $soname, which ldd cannot find"
      cp -L "$resolved" "$N/$soname"
      chmod u+w "$N/$soname"
      patchelf --set-rpath '$ORIGIN' "$N/$soname"
      say "bundled $soname (from $resolved)"
      copied=1
    done < <(ldd "$obj" | awk '$2 == "=>" {print $1, $2, $3}')
  done
  [ $copied = 0 ] && break
done
# Check: everything outside the base system now resolves inside the stage.
bad=$(for obj in "$N"/*.node "$N"/*.so* "$N"/mlx/lib/*.so "$N"/mlx_cpu.libs/*; do
  [ -f "$obj" ] || continue
  ldd "$obj" | awk -v o="$(basename "$obj")" '$2 == "=>" {print o": "$1" => "$3}'
done | grep -v " => $STAGE/" | while read -r line; do
  soname=$(echo "$line" | awk '{print $2}'); is_base "$soname" || echo "$line"
done)
[ -z "$bad" ] || die "libraries resolved outside the package:
$bad"

# --- 4: vsce --------------------------------------------------------------------------------------
rm -f "$VSIX"
(cd "$STAGE" && "$ROOT/node_modules/.bin/vsce" package --no-dependencies --target "$TARGET" \
  --allow-missing-repository --skip-license --out "$VSIX") >&2
say "$VSIX ($(du -h "$VSIX" | cut -f1))"
echo "$VSIX"
