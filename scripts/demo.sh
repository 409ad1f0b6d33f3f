#!/usr/bin/env bash
# Quick start: set up, build, index a folder and answer one query.
# usage: npm run demo -- [FOLDER] ["query"]     (defaults: this repository, a sample query)
set -euo pipefail
caller=${INIT_CWD:-$PWD}          # npm runs scripts from the package root; INIT_CWD is where it was called
folder=${1:-.}
query=${2:-"where is the embedding batch padded to the longest input"}
folder=$(cd "$caller" && realpath "$folder") || { echo "demo: $1: no such folder" >&2; exit 2; }
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent build
bin/semsearch index "$folder"
bin/semsearch search "$query" --dir "$folder" --top 5
