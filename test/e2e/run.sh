#!/usr/bin/env bash
# npm run test:e2e — the packaged extension in a real VS Code (code-server + headless Chromium).
#   1. scripts/setup.sh (npm packages, MLX, the test model; quick when done);
#   2. scripts/install-code-server.sh (code-server 4.100.3 + chromium into a cache folder outside
#      the repository; quick when done);
#   3. scripts/package.sh (the VSIX), unless SEMSEARCH_VSIX names one;
#   4. compile test/e2e and run out/test/e2e/main.js (arguments are passed on, e.g. --only ui).
# Screenshots and output-channel logs: test-output/e2e/. Last line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh
CACHE=$(bash scripts/install-code-server.sh | tail -n1)
if [ -n "${SEMSEARCH_VSIX:-}" ]; then VSIX=$SEMSEARCH_VSIX; else VSIX=$(bash scripts/package.sh | tail -n1); fi
node_modules/.bin/tsc -p test/e2e
exec node out/test/e2e/main.js --vsix "$VSIX" --cache "$CACHE" "$@"
