#!/usr/bin/env bash
# Install what the e2e tests need to drive a real VS Code offline: code-server 4.100.3 (VS Code
# 1.100.3, the newest that runs on Node 20) and Debian chromium. (playwright-core, which drives
# chromium, is a devDependency of the repository.)
# Idempotent: returns at once when the versions already match.
#
# Usage: scripts/install-code-server.sh [DIR]
#   DIR defaults to $SEMSEARCH_E2E_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/semsearch-e2e (outside the
#   repository, ~300 MB). Prints DIR on its last line.
#
# Workarounds (in the order they bite), see shared notes vscode-e2e.md:
#   - npm_config_unsafe_perm: code-server's postinstall refuses to run as root otherwise;
#   - libkrb5-dev: the kerberos dependency builds from source;
#   - @vscode/ripgrep@1.15.11 downloads rg from GitHub in postinstall, but first looks in
#     $TMPDIR/vscode-ripgrep-cache-1.15.11/: seed it with the static rg from the npm package;
#   - npm_config_yes: node-pty's postinstall runs `npx node-gyp`.
set -euo pipefail
CODE_SERVER_VERSION=4.100.3
DIR=${1:-${SEMSEARCH_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/semsearch-e2e}}
mkdir -p "$DIR/tmp"; cd "$DIR"
say() { printf 'install-code-server: %s\n' "$*" >&2; }

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { say "need root for: apt-get install ${need_apt[*]}"; exit 1; }
  say "apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

have_cs() { [ -x node_modules/.bin/code-server ] && HOME=$DIR/tmp node_modules/.bin/code-server --version 2>/dev/null | grep -q "^$CODE_SERVER_VERSION"; }
if have_cs; then say "code-server $CODE_SERVER_VERSION already installed in $DIR"; echo "$DIR"; exit 0; fi

export TMPDIR=$DIR/tmp
RGC=$TMPDIR/vscode-ripgrep-cache-1.15.11; mkdir -p "$RGC" "$TMPDIR/rgpkg"
if [ ! -f "$RGC/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" ]; then
  ( cd "$TMPDIR/rgpkg" && npm pack -s @vscode/ripgrep-linux-x64@1.18.0 >/dev/null && tar xzf vscode-ripgrep-linux-x64-1.18.0.tgz )
  tar czf "$RGC/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$TMPDIR/rgpkg/package/bin" rg
fi
[ -f package.json ] || npm init -y >/dev/null
say "npm install code-server@$CODE_SERVER_VERSION (about 2 minutes)"
npm_config_unsafe_perm=true npm_config_yes=true npm install --no-audit --no-fund --loglevel=error \
  "code-server@$CODE_SERVER_VERSION" >&2
HOME=$DIR/tmp node_modules/.bin/code-server --version >&2
echo "$DIR"
