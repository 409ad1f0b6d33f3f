#!/usr/bin/env python3
"""model2vec's own StaticModel.encode speed on real code chunks (for reference only).

    TOKENIZERS_PARALLELISM=false python scripts/static/bench_encode.py --ws /work/devws/vue   # one thread
    python scripts/static/bench_encode.py --ws /work/devws/vue                                # tokenizers' default

Chunks: the functions of a TypeScript workspace, cut by proxy_eval.py's simple splitter.
Reports chunks/s and tokens/s (tokens as fed to the table: after the 512-token truncation),
for encode() as a whole and for its two parts (tokenize; table lookup + mean + normalise).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proxy_eval  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    from model2vec import StaticModel
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / "models/static"))
    ap.add_argument("--ws", default="/work/devws/vue")
    ap.add_argument("--ext", default=".ts")
    ap.add_argument("--lang", default="typescript")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    root = Path(args.ws)
    chunks = []
    for f in sorted(root.rglob("*" + args.ext)):
        text = f.read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")
        for s, e in proxy_eval.split_functions(text, args.lang):
            chunks.append("\n".join(lines[s - 1:e]))
    m = StaticModel.from_pretrained(args.model)
    cut = [c[: m.max_length * m.median_token_length] for c in chunks]
    ids = m.tokenize(cut)
    ntok = sum(map(len, ids))
    nchar = sum(map(len, chunks))
    print(f"{len(chunks)} chunks from {root.name}, {nchar} chars, {ntok} tokens (mean {ntok / len(chunks):.0f}), "
          f"TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', '(unset)')}, "
          f"RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', '(unset)')}, load {os.getloadavg()[0]:.1f}")
    m.encode(chunks[:100])
    t_enc, t_tok, t_pool = [], [], []
    for _ in range(args.repeat):
        t = time.perf_counter(); m.encode(chunks); t_enc.append(time.perf_counter() - t)
        t = time.perf_counter(); m.tokenize(cut); t_tok.append(time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(0, len(ids), 1024):
            batch = ids[i:i + 1024]
            out = np.zeros((len(batch), m.dim), dtype=m.embedding.dtype)
            for j, row in enumerate(batch):
                if row:
                    out[j] = m.embedding[row].mean(axis=0)
            out32 = out.astype(np.float32)
            out32 /= np.linalg.norm(out32, axis=1, keepdims=True) + 1e-32
        t_pool.append(time.perf_counter() - t)
    for name, ts in (("encode", t_enc), ("tokenize", t_tok), ("lookup+mean+norm (per row)", t_pool)):
        med = statistics.median(ts)
        print(f"{name:28s} median {med * 1000:8.1f} ms of {len(ts)}: {len(chunks) / med:9.0f} chunks/s, "
              f"{ntok / med:10.0f} tokens/s (best {min(ts) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
