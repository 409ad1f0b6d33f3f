#!/usr/bin/env python3
"""Cheap proxy evaluation of static (model2vec) models, and of the teacher for orientation.

Not the engine's evaluation: no chunker, no keyword fusion, just cosine ranking of whole
snippets/functions.

  (a) CoSQA: the 500 queries of human.jsonl against all 6,267 snippets of the cosqa-dev
      workspace (each file split at the two blank lines between its 20 snippets).
  (b) docstring: the 170 queries of docstring.jsonl, each against a pool of functions of its
      own workspace: the targets at their exact line ranges, plus every other function found
      by a simple splitter (Python: ast; Go/Rust/Java/TypeScript: a definition-line regex, the
      body ending at the first later line that is `}` at the definition's indentation), minus
      any function whose lines overlap a target's.

Hit rule as in the dev set's score.py (same path and >= 50 % of the target's lines covered,
or the result entirely inside the target); MRR@10 and R@10.

Usage:
  proxy_eval.py raw --teacher DIR --pooling mean --out raw_mean      # model2vec distill, no PCA/SIF, float32
  proxy_eval.py grid --raw raw_mean --raw raw_first --out grid.json  # post-process variants + score
  proxy_eval.py model --model DIR                                    # score a saved StaticModel folder
  proxy_eval.py teacher --teacher DIR --out teacher.json             # sentence-transformers, CLS + instruction
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

DEVWS = Path(os.environ.get("DEVWS", "/work/devws"))
HUMAN = Path(os.environ.get("HUMAN", "/work/shared/eval-dev/human.jsonl"))
DOCSTRING = Path(os.environ.get("DOCSTRING", "/work/evaldev/docstring.jsonl"))
BGE_QUERY = "Represent this sentence for searching relevant passages: "
EXT = {"python": ".py", "typescript": ".ts", "go": ".go", "rust": ".rs", "java": ".java"}


# ---------------------------------------------------------------- pools

def cosqa_pool():
    docs = []  # (path, start, end, text)
    root = DEVWS / "cosqa-dev"
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        lines = f.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines = lines[:-1]
        # snippets are separated by exactly two blank lines; a snippet starts at column 0
        start = 0
        i = 0
        bounds = []
        while i < len(lines):
            if (i + 2 < len(lines) and lines[i] == "" and lines[i + 1] == "" and lines[i + 2] != ""
                    and not lines[i + 2][0].isspace() and i > start):
                bounds.append((start, i - 1))
                start = i + 2
                i += 2
                continue
            i += 1
        bounds.append((start, len(lines) - 1))
        for s, e in bounds:
            docs.append((rel, s + 1, e + 1, "\n".join(lines[s:e + 1])))
    queries = [json.loads(l) for l in HUMAN.open()]
    qs = [(q["id"], q["query"], "cosqa-dev", [(r["path"], r["startLine"], r["endLine"]) for r in q["relevant"]])
          for q in queries]
    return docs, qs


_DEF = {
    "go": re.compile(r"^func\b"),
    "rust": re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(default\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+\"[^\"]*\"\s+)?fn\s+\w"),
    "java": re.compile(r"^\s+(@\w+(\([^)]*\))?\s+)*((public|private|protected|static|final|abstract|synchronized|native|default|strictfp)\s+)*"
                       r"(<[^>]*>\s+)?[\w.<>\[\],? ]+\s+\w+\s*\([^;]*$"),
    "typescript": re.compile(r"^\s*(export\s+)?(default\s+)?(declare\s+)?(async\s+)?function\b|"
                             r"^\s*(export\s+)?(const|let)\s+\w+\s*(:[^=]+)?=\s*(async\s+)?(\([^)]*\)|\w+)\s*(:[^=]+)?=>|"
                             r"^\s+((public|private|protected|static|async|get|set|readonly|override)\s+)*\w+\s*(<[^>]*>)?\([^;]*\)\s*(:[^{;]+)?\{\s*$"),
}
_NOT_DEF = re.compile(r"^\s*(\}\s*)?(return|new|else|if|for|while|switch|catch|try|do|throw|case|class|interface|enum|record|await|yield|typeof|super|this)\b")


def split_functions(text: str, lang: str):
    """Return (start, end) 1-based inclusive line ranges of functions."""
    lines = text.split("\n")
    out = []
    if lang == "python":
        try:
            tree = ast.parse(text)
        except SyntaxError:
            return out
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                s = min([node.lineno] + [d.lineno for d in node.decorator_list])
                out.append((s, node.end_lineno))
        return out
    rx = _DEF[lang]
    for i, line in enumerate(lines):
        if not rx.search(line):
            continue
        if lang in ("java", "typescript") and _NOT_DEF.search(line):
            continue
        indent = len(line) - len(line.lstrip())
        end = None
        for j in range(i + 1, min(len(lines), i + 400)):
            l = lines[j]
            if l.strip().startswith("}") and len(l) - len(l.lstrip()) == indent:
                end = j
                break
            if j == i and l.rstrip().endswith("}"):
                break
        if end is None:
            if line.rstrip().endswith("}"):
                end = i
            else:
                continue
        out.append((i + 1, end + 1))
    return out


def docstring_pools():
    recs = [json.loads(l) for l in DOCSTRING.open()]
    pools = {}
    for ws in sorted({r["workspace"] for r in recs}):
        rr = [r for r in recs if r["workspace"] == ws]
        lang = rr[0]["language"]
        root = DEVWS / ws
        targets = {}
        for r in rr:
            targets.setdefault(r["path"], []).append((r["startLine"], r["endLine"]))
        docs = []
        cache = {}
        for r in rr:
            lines = cache.setdefault(r["path"], (root / r["path"]).read_text(encoding="utf-8", errors="replace").split("\n"))
            docs.append((r["path"], r["startLine"], r["endLine"], "\n".join(lines[r["startLine"] - 1:r["endLine"]])))
        for f in sorted(root.rglob("*" + EXT[lang])):
            if not f.is_file():
                continue
            rel = f.relative_to(root).as_posix()
            text = f.read_text(encoding="utf-8", errors="replace")
            lines = text.split("\n")
            for s, e in split_functions(text, lang):
                if any(s <= te and ts <= e for ts, te in targets.get(rel, [])):
                    continue
                body = "\n".join(lines[s - 1:e])
                if body.strip():
                    docs.append((rel, s, e, body))
        qs = [(r["id"], r["query"], ws, [(r["path"], r["startLine"], r["endLine"])]) for r in rr]
        pools[ws] = (docs, qs)
    return pools


def all_pools():
    pools = {"cosqa-dev": cosqa_pool()}
    pools.update(docstring_pools())
    return pools


# ---------------------------------------------------------------- scoring

def hits(doc, target):
    p, s, e = doc[:3]
    tp, ts, te = target
    if p != tp:
        return False
    if ts <= s and e <= te:
        return True
    cover = max(0, min(e, te) - max(s, ts) + 1)
    return cover >= 0.5 * (te - ts + 1)


def score_pool(docs, qs, dvec, qvec):
    sims = qvec @ dvec.T
    rr, r10 = [], []
    for qi, (_, _, _, targets) in enumerate(qs):
        top = np.argsort(-sims[qi], kind="stable")[:10]
        rank = next((k + 1 for k, d in enumerate(top) if any(hits(docs[d], t) for t in targets)), None)
        rr.append(1.0 / rank if rank else 0.0)
        r10.append(1.0 if rank else 0.0)
    return float(np.mean(rr)), float(np.mean(r10))


def evaluate(pools, enc_docs, enc_queries):
    """enc_docs(list[str]) / enc_queries(list[str]) -> L2-normalised float32 rows."""
    res = {}
    for ws, (docs, qs) in pools.items():
        dvec = enc_docs(ws, [d[3] for d in docs])
        qvec = enc_queries([q[1] for q in qs])
        res[ws] = score_pool(docs, qs, dvec, qvec)
    doc_ws = [w for w in pools if w != "cosqa-dev"]
    n = {w: len(pools[w][1]) for w in doc_ws}
    res["docstring"] = tuple(sum(res[w][k] * n[w] for w in doc_ws) / sum(n.values()) for k in (0, 1))
    return res


# ---------------------------------------------------------------- static models

def make_raw(args):
    import torch
    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer
    torch.manual_seed(0)
    model = AutoModel.from_pretrained(args.teacher)
    tok = AutoTokenizer.from_pretrained(args.teacher, use_fast=True)
    t = time.time()
    m = distill_from_model(model=model, tokenizer=tok, pca_dims=None, sif_coefficient=None,
                           quantize_to="float32", pooling=args.pooling, device="cpu")
    print(f"distilled {args.pooling} in {time.time() - t:.0f}s", m.embedding.shape, file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "raw.npy", m.embedding)
    m.tokenizer.save(str(out / "tokenizer.json"))
    (out / "meta.json").write_text(json.dumps({"pooling": args.pooling, "shape": list(m.embedding.shape)}))


def post_process(raw, pca, sif):
    """Exactly distill_from_model's post-processing (no vocabulary quantization)."""
    from model2vec.distill.inference import apply_pca, compute_weights
    from model2vec.quantization import DType, quantize_embeddings
    weights = compute_weights(len(raw), sif_coefficient=sif)
    emb = apply_pca(raw.copy(), pca)
    emb = emb * weights[:, None]
    return quantize_embeddings(emb, DType.Float16)


def static_encoders(model, prefix):
    def enc_docs(ws, texts):
        return model.encode(texts, normalize=True).astype(np.float32)

    def enc_queries(texts):
        return model.encode([prefix + t for t in texts], normalize=True).astype(np.float32)
    return enc_docs, enc_queries


def grid(args):
    from model2vec import StaticModel
    from tokenizers import Tokenizer
    pools = all_pools()
    print({w: (len(d), len(q)) for w, (d, q) in pools.items()}, file=sys.stderr)
    rows = []
    for rawdir in args.raw:
        rawdir = Path(rawdir)
        raw = np.load(rawdir / "raw.npy")
        pooling = json.loads((rawdir / "meta.json").read_text())["pooling"]
        tok = Tokenizer.from_file(str(rawdir / "tokenizer.json"))
        for pca in args.pca:
            pca_v = None if pca == "none" else ("auto" if pca == "auto" else int(pca))
            for sif in args.sif:
                sif_v = None if sif == "none" else float(sif)
                emb = post_process(raw, pca_v, sif_v)
                m = StaticModel(vectors=emb, tokenizer=tok, normalize=True)
                for prefix in ("", BGE_QUERY):
                    r = evaluate(pools, *static_encoders(m, prefix))
                    row = {"pooling": pooling, "pca": pca, "sif": sif, "prefix": bool(prefix), "dim": int(emb.shape[1]),
                           "cosqa_mrr10": r["cosqa-dev"][0], "cosqa_r10": r["cosqa-dev"][1],
                           "doc_mrr10": r["docstring"][0], "doc_r10": r["docstring"][1],
                           "per_ws_mrr10": {w: r[w][0] for w in r if w not in ("docstring",)}}
                    rows.append(row)
                    print(f"{pooling:6s} pca={pca:5s} sif={sif:6s} prefix={int(bool(prefix))} "
                          f"cosqa={row['cosqa_mrr10']:.3f} doc={row['doc_mrr10']:.3f}", flush=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))


def score_model(args):
    from model2vec import StaticModel
    m = StaticModel.from_pretrained(args.model)
    pools = all_pools()
    for prefix in ("", BGE_QUERY):
        r = evaluate(pools, *static_encoders(m, prefix))
        print(f"prefix={int(bool(prefix))} cosqa={r['cosqa-dev'][0]:.3f} doc={r['docstring'][0]:.3f}",
              {w: round(v[0], 3) for w, v in r.items()})


def teacher(args):
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(args.threads)
    st = SentenceTransformer(args.teacher, device="cpu")
    st.max_seq_length = args.max_seq_length
    print(st, file=sys.stderr)
    pools = all_pools()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    def enc_docs(ws, texts):
        f = cache / f"{ws}-{args.max_seq_length}.npy"
        if f.exists():
            v = np.load(f)
            if len(v) == len(texts):
                return v
        t = time.time()
        v = st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
        print(f"{ws}: {len(texts)} docs in {time.time() - t:.0f}s", file=sys.stderr, flush=True)
        np.save(f, v)
        return v

    def enc_queries(texts):
        return st.encode([BGE_QUERY + t for t in texts], batch_size=64, normalize_embeddings=True,
                         convert_to_numpy=True).astype(np.float32)
    r = evaluate(pools, enc_docs, enc_queries)
    out = {"max_seq_length": args.max_seq_length, "cosqa_mrr10": r["cosqa-dev"][0], "cosqa_r10": r["cosqa-dev"][1],
           "doc_mrr10": r["docstring"][0], "doc_r10": r["docstring"][1],
           "per_ws_mrr10": {w: r[w][0] for w in r if w != "docstring"}}
    print(json.dumps(out))
    Path(args.out).write_text(json.dumps(out, indent=1))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("raw"); p.add_argument("--teacher", required=True); p.add_argument("--pooling", default="mean")
    p.add_argument("--out", required=True); p.set_defaults(fn=make_raw)
    p = sub.add_parser("grid"); p.add_argument("--raw", action="append", required=True)
    p.add_argument("--pca", nargs="+", default=["128", "256", "auto", "none"])
    p.add_argument("--sif", nargs="+", default=["1e-4", "none"])
    p.add_argument("--out", required=True); p.set_defaults(fn=grid)
    p = sub.add_parser("model"); p.add_argument("--model", required=True); p.set_defaults(fn=score_model)
    p = sub.add_parser("teacher"); p.add_argument("--teacher", required=True); p.add_argument("--out", required=True)
    p.add_argument("--cache", default="/tmp/semsearch-static-teacher-cache")
    p.add_argument("--max-seq-length", type=int, default=512); p.add_argument("--threads", type=int, default=2)
    p.set_defaults(fn=teacher)
    p = sub.add_parser("pools"); p.set_defaults(fn=lambda a: print({w: (len(d), len(q)) for w, (d, q) in all_pools().items()}))
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
