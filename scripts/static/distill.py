#!/usr/bin/env python3
"""Distil the static embedding model shipped in models/static/ from the code-adapted teacher.

    python scripts/static/distill.py [--teacher DIR] [--out models/static] [--check]

The teacher is semsearch/bge-small-en-v1.5-code: bge-small-en-v1.5 with the code adapter merged,
the folder semsearch writes under ~/.cache/semsearch/models/ on first use (its
semsearch-adapter.json must name the sha256 of models/adapters/bge-small-en-v1.5-code.safetensors).

It runs model2vec's own distillation (model2vec.distill.distill) and writes:
  model.safetensors  the float16 table, tensor "embeddings" [vocab, dim], provenance and settings in
                     the header's __metadata__ (written here with sorted keys, so the bytes are stable)
  tokenizer.json     the tokenizer model2vec made (it is NOT the teacher's, see SOURCES.md)
  config.json        model2vec's config, so that model2vec.StaticModel.from_pretrained(out) loads it
  SHA256SUMS         sha256 of the three files (sha256sum -c format)

The shipped models/static/model.safetensors is this table trained further by scripts/static/train.py
(which starts from DISTILLED_SHA256): writing --out models/static puts the distilled table back, and
train.py then rebuilds the shipped one. --check rebuilds into a temporary folder and compares its
model.safetensors with DISTILLED_SHA256 and the other files with --out's SHA256SUMS.
Versions: scripts/static/requirements.txt. The forward passes run on the CPU with a fixed thread
count (--threads), so that the float results, and with them the bytes, repeat.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TEACHER = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "semsearch/models/semsearch--bge-small-en-v1.5-code"
DEFAULT_ADAPTER = REPO / "models/adapters/bge-small-en-v1.5-code.safetensors"
TEACHER_ID = "semsearch/bge-small-en-v1.5-code"
BASE_ID = "BAAI/bge-small-en-v1.5"

# The chosen settings (see SOURCES.md for the comparison that chose them).
PCA_DIMS = 256
SIF_COEFFICIENT = 1e-4
POOLING = "mean"
TOKEN_REMOVE_PATTERN = r"\[unused\d+\]"  # model2vec's default
MAX_LENGTH = 512  # model2vec's StaticModel default, stored in config.json


# The table this script makes (committed in 1ba280b); scripts/static/train.py starts from it.
DISTILLED_SHA256 = "7a536996ff5f9c0b1d20af167ed91e57b17100e8c67eb5cc08dd81d2b677e961"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_safetensors(path: Path, name: str, array, metadata: dict[str, str]) -> None:
    """One little-endian float16 tensor; header JSON with sorted keys, space-padded to 8 bytes."""
    import numpy as np
    data = np.ascontiguousarray(array.astype("<f2")).tobytes()
    header = {
        "__metadata__": {k: str(v) for k, v in metadata.items()},
        name: {"dtype": "F16", "shape": list(array.shape), "data_offsets": [0, len(data)]},
    }
    h = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        f.write(data)


def versions() -> dict[str, str]:
    import importlib.metadata as md
    out = {"python": sys.version.split()[0]}
    for pkg in ("model2vec", "torch", "transformers", "tokenizers", "skeletoken", "numpy", "safetensors"):
        out[pkg] = md.version(pkg)
    return out


def build(teacher: Path, adapter: Path, out: Path, threads: int) -> dict[str, str]:
    import numpy as np
    import torch
    from model2vec import StaticModel
    from model2vec.distill import distill

    marker = json.loads((teacher / "semsearch-adapter.json").read_text())
    adapter_sha = sha256(adapter)
    if marker.get("adapterSha256") != adapter_sha:
        raise SystemExit(f"{teacher} was made with adapter {marker.get('adapterSha256')}, not {adapter} ({adapter_sha})")

    torch.manual_seed(0)  # the teacher folder has no pooler weights; transformers initialises them (unused)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    t0 = time.time()
    m = distill(
        str(teacher),
        pca_dims=PCA_DIMS,
        sif_coefficient=SIF_COEFFICIENT,
        token_remove_pattern=TOKEN_REMOVE_PATTERN,
        quantize_to="float16",
        pooling=POOLING,
        device="cpu",
    )
    seconds = time.time() - t0
    emb = m.embedding
    assert emb.dtype == np.float16 and emb.shape[1] == PCA_DIMS, (emb.dtype, emb.shape)
    assert m.normalize is True and m.max_length == MAX_LENGTH and m.weights is None and m.token_mapping is None

    out.mkdir(parents=True, exist_ok=True)
    # Exactly as model2vec's save_pretrained writes it.
    m.tokenizer.save(str(out / "tokenizer.json"), pretty=False)
    cfg = dict(m.config)
    cfg["tokenizer_name"] = TEACHER_ID  # model2vec writes the teacher's local path here
    cfg["pooling"] = str(getattr(cfg["pooling"], "value", cfg["pooling"]))
    cfg["embedding_dtype"] = "float16"
    (out / "config.json").write_text(json.dumps(cfg, indent=4) + "\n")

    v = versions()
    meta = {
        "format": "model2vec StaticModel table (tensor 'embeddings', rows = ids of the tokenizer.json beside it)",
        "teacher": TEACHER_ID,
        "teacher_base": BASE_ID,
        "adapter": adapter.name,
        "adapter_sha256": adapter_sha,
        "teacher_weights_sha256": sha256(teacher / "model.safetensors"),
        "teacher_tokenizer_sha256": sha256(teacher / "tokenizer.json"),
        "tokenizer_sha256": sha256(out / "tokenizer.json"),
        "distill": json.dumps({"pca_dims": PCA_DIMS, "sif_coefficient": SIF_COEFFICIENT, "pooling": POOLING,
                               "token_remove_pattern": TOKEN_REMOVE_PATTERN, "quantize_to": "float16",
                               "vocabulary": None, "vocabulary_quantization": None}, sort_keys=True),
        "normalize": "true",
        "max_length": str(MAX_LENGTH),
        "median_token_length": str(m.median_token_length),
        "vocab_size": str(emb.shape[0]),
        "dim": str(emb.shape[1]),
        "versions": json.dumps(v, sort_keys=True),
    }
    write_safetensors(out / "model.safetensors", "embeddings", emb, meta)

    # The shipped folder must load in model2vec and encode exactly like the distilled model.
    loaded = StaticModel.from_pretrained(str(out))
    probe = ["def read_json(path):\n    return json.load(open(path))", "Parse a JSON file.", "", "héllo 世界 🙂"]
    assert np.array_equal(loaded.embedding, emb)
    assert np.array_equal(loaded.encode(probe), m.encode(probe))
    assert loaded.tokenize(probe) == m.tokenize(probe)

    sums = {f: sha256(out / f) for f in ("model.safetensors", "tokenizer.json", "config.json")}
    (out / "SHA256SUMS").write_text("".join(f"{h}  {f}\n" for f, h in sums.items()))
    print(f"distilled in {seconds:.0f}s on {threads} thread(s): {emb.shape[0]} x {emb.shape[1]} float16", file=sys.stderr)
    for f, h in sums.items():
        print(f"{h}  {f}  ({(out / f).stat().st_size} bytes)")
    return sums


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", type=Path, default=DEFAULT_TEACHER)
    ap.add_argument("--adapter", type=Path, default=DEFAULT_ADAPTER)
    ap.add_argument("--out", type=Path, default=REPO / "models/static")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check", action="store_true", help="rebuild in a temporary folder, compare with --out/SHA256SUMS")
    args = ap.parse_args()
    if not (args.teacher / "model.safetensors").exists():
        raise SystemExit(f"no teacher at {args.teacher}: run bin/semsearch once with the default model, or pass --teacher")
    if args.check:
        want = {f: h for h, f in (line.split("  ", 1) for line in (args.out / "SHA256SUMS").read_text().splitlines())}
        want["model.safetensors"] = DISTILLED_SHA256  # the shipped table is the trained one (train.py)
        with tempfile.TemporaryDirectory() as tmp:
            got = build(args.teacher, args.adapter, Path(tmp), args.threads)
        bad = [f for f in want if want[f] != got.get(f)]
        if bad:
            raise SystemExit(f"differs from {args.out}: {', '.join(bad)}")
        print(f"identical to the distilled table ({DISTILLED_SHA256[:12]}…) and {args.out}/SHA256SUMS")
    else:
        build(args.teacher, args.adapter, args.out, args.threads)


if __name__ == "__main__":
    main()
