#!/usr/bin/env python3
"""Train the distilled static table further on the code adapter's (doc sentence, code) pairs.

    python scripts/static/train.py --pairs PAIRS.jsonl [--out models/static]    # train, write the table
    python scripts/static/train.py --pairs PAIRS.jsonl --check                  # rebuild in a temp folder, compare bytes
    python scripts/static/train.py --pairs PAIRS.jsonl --eval-only              # held-out figures of the start table
    python scripts/static/train.py --pairs PAIRS.jsonl --sweep SWEEP.json --grid '[{"lr": 0.01}, …]'  # settings search (held-out only)

PAIRS.jsonl is the file scripts/adapters/mine-pairs.js writes (see scripts/adapters/SOURCES.md);
its sha256 is checked against PAIRS_SHA256 unless --any-pairs is given.

The start table is the distilled one (scripts/static/distill.py), read from git at DISTILLED_COMMIT
(or --init FILE) and checked against DISTILLED_SHA256. The model is exactly what
model2vec.StaticModel.encode computes: each text cut to its first max_length * median_token_length
(3072) code points, tokenized with models/static/tokenizer.json (no special tokens, the first 512
ids), [UNK] ids dropped, the mean of the rows, L2-normalised. Queries are the doc sentences without
any instruction prefix, documents the code as mined.

Loss: symmetric InfoNCE over the batch (each query against every code of the batch and back), as
scripts/adapters/train_lora.py; Adam on the float32 table (no weight decay), warm-up then linear
decay; optional L2 pull of the rows towards their distilled values (--anchor). Rows of tokens that
occur in no training text get a gradient of exactly zero at every step, so Adam leaves them at their
distilled values (checked before writing). The held-out split is train_lora.py's: a tenth of the
source files (lang, src, path), numpy default_rng(0). After every epoch the table is rounded to
float16 (what is shipped) and scored on the held-out split (MRR@10 of each held-out query among all
held-out codes); the best epoch is written.

Deterministic: one thread, torch.use_deterministic_algorithms, seeded shuffles; the same inputs give
the same bytes on the same machine (--check).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from distill import DISTILLED_SHA256, sha256, write_safetensors  # noqa: E402  (same header writer: sorted keys, stable bytes)

# The distilled table training starts from (scripts/static/distill.py, committed in DISTILLED_COMMIT).
DISTILLED_COMMIT = "1ba280b"
DISTILLED_PATH = "models/static/model.safetensors"
TOKENIZER_SHA256 = "f3ecd3573f6b24b5ae66a46ee4d5c24f52079aae743ecbc888698ca3e5a4d20a"
# The pairs of scripts/adapters/SOURCES.md as reproduced here (see scripts/static/SOURCES.md).
PAIRS_SHA256 = "17e1db68ee2afd60331888fc7e65f676dfb7464c9e48baf135b7fe82830520fc"

MAX_LENGTH = 512
MEDIAN_TOKEN_LENGTH = 6
UNK_ID = 1

# The chosen settings (scripts/static/SOURCES.md): the held-out sweep, then the choice among four
# finished candidates on the development set (the best held-out one, 12 epochs, was not the best there).
DEFAULTS = {"lr": 3e-2, "epochs": 6, "batch": 512, "temperature": 0.05, "anchor": 0.0, "warmup": 0.1, "seed": 0}


# ---------------------------------------------------------------- data

def load_pairs(path: Path, any_pairs: bool):
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if PAIRS_SHA256 and digest != PAIRS_SHA256 and not any_pairs:
        raise SystemExit(f"{path}: sha256 {digest}, expected {PAIRS_SHA256} (--any-pairs to train anyway)")
    pairs = [json.loads(line) for line in raw.decode("utf8").splitlines() if line]
    # The held-out split of scripts/adapters/train_lora.py, exactly.
    files = sorted({(p["lang"], p["src"], p["path"]) for p in pairs})
    np.random.default_rng(0).shuffle(files)
    held = set(files[: len(files) // 10])
    train = [p for p in pairs if (p["lang"], p["src"], p["path"]) not in held]
    val = [p for p in pairs if (p["lang"], p["src"], p["path"]) in held]
    return digest, pairs, train, val


def load_tokenizer(model_dir: Path):
    from tokenizers import Tokenizer
    tok_path = model_dir / "tokenizer.json"
    if sha256(tok_path) != TOKENIZER_SHA256:
        raise SystemExit(f"{tok_path} is not the distilled model's tokenizer ({TOKENIZER_SHA256})")
    tok = Tokenizer.from_file(str(tok_path))
    assert tok.truncation is not None and tok.truncation["max_length"] == MAX_LENGTH, tok.truncation
    assert tok.token_to_id("[UNK]") == UNK_ID
    return tok


def tokenize(tok, texts):
    """The ids StaticModel.encode averages: code-point pre-cut, no special tokens, 512 ids, no [UNK]."""
    cut = MAX_LENGTH * MEDIAN_TOKEN_LENGTH
    enc = tok.encode_batch_fast([t[:cut] for t in texts], add_special_tokens=False)
    return [[i for i in e.ids if i != UNK_ID] for e in enc]


def bags(id_lists):
    """Flat ids + offsets for torch's embedding_bag."""
    import torch
    lengths = np.fromiter((len(x) for x in id_lists), dtype=np.int64, count=len(id_lists))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    flat = np.fromiter((i for x in id_lists for i in x), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(flat), torch.from_numpy(offsets)


# ---------------------------------------------------------------- model

def read_table(path: Path):
    from safetensors.numpy import load_file
    from safetensors import safe_open
    table = load_file(str(path))["embeddings"]
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    return table, meta


def distilled_table(init: Path | None):
    if init is None:
        blob = subprocess.run(["git", "-C", str(REPO), "show", f"{DISTILLED_COMMIT}:{DISTILLED_PATH}"],
                              check=True, capture_output=True).stdout
        tmp = tempfile.NamedTemporaryFile(suffix=".safetensors", delete=False)
        tmp.write(blob)
        tmp.close()
        try:
            return distilled_table(Path(tmp.name))
        finally:
            os.unlink(tmp.name)
    if sha256(init) != DISTILLED_SHA256:
        raise SystemExit(f"{init} is not the distilled table ({DISTILLED_SHA256})")
    table, meta = read_table(init)
    assert table.dtype == np.float16 and table.shape == (29525, 256), (table.dtype, table.shape)
    return table, meta


def embed(W, flat, offsets):
    import torch
    import torch.nn.functional as F
    v = F.embedding_bag(flat, W, offsets, mode="mean")
    return v / (v.norm(dim=1, keepdim=True) + 1e-32)


def held_out_scores(table16: np.ndarray, val_q, val_c, val_lang):
    """MRR@10 of each held-out query among all held-out codes (train_lora.py's measure), float32 means."""
    import torch
    W = torch.from_numpy(table16.astype(np.float32))
    with torch.no_grad():
        q = embed(W, *val_q)
        c = embed(W, *val_c)
        scores = q @ c.T
        rank = (scores > scores.diagonal().unsqueeze(1)).sum(1) + 1
        rr = 1.0 / rank.double()
        rr[rank > 10] = 0
    rr = rr.numpy()
    per = {str(lang): float(rr[val_lang == lang].mean()) for lang in sorted(set(val_lang))}
    return float(rr.mean()), per


def train(table16, train_q, train_c, val, settings, log=print):
    """Returns (best float16 table, best epoch, per-epoch held-out MRR@10, best per-language)."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(settings["seed"])
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(settings["seed"])

    W0 = torch.from_numpy(table16.astype(np.float32))
    W = torch.nn.Parameter(W0.clone())
    opt = torch.optim.Adam([W], lr=settings["lr"], weight_decay=0.0)
    n, B = len(train_q), settings["batch"]
    per_epoch = n // B
    steps = settings["epochs"] * per_epoch
    warmup = max(1, int(steps * settings["warmup"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    tau, anchor = settings["temperature"], settings["anchor"]

    history = []
    best = (-1.0, None, 0, None)
    t0 = time.time()
    for epoch in range(1, settings["epochs"] + 1):
        order = rng.permutation(n)
        total = 0.0
        for s in range(per_epoch):
            idx = order[s * B:(s + 1) * B]
            q = embed(W, *bags([train_q[i] for i in idx]))
            c = embed(W, *bags([train_c[i] for i in idx]))
            logits = q @ c.T / tau
            labels = torch.arange(len(idx))
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            if anchor > 0:
                loss = loss + anchor * (W - W0).pow(2).sum(1).mean()
            opt.zero_grad(set_to_none=False)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        t16 = W.detach().numpy().astype(np.float16)
        mrr, per = held_out_scores(t16, *val)
        history.append(round(mrr, 4))
        log(f"epoch {epoch}: loss {total / per_epoch:.4f}, held-out MRR@10 {mrr:.4f} "
            + " ".join(f"{k} {v:.3f}" for k, v in per.items()) + f" ({time.time() - t0:.0f} s)")
        if mrr > best[0]:
            best = (mrr, t16, epoch, per)
    return best[1], best[2], history, best[3], best[0]


# ---------------------------------------------------------------- main

def prepare(args):
    digest, pairs, train_pairs, val_pairs = load_pairs(args.pairs, args.any_pairs)
    tok = load_tokenizer(REPO / "models/static")
    table16, meta = distilled_table(args.init)
    t = time.time()
    train_q = tokenize(tok, [p["query"] for p in train_pairs])
    train_c = tokenize(tok, [p["code"] for p in train_pairs])
    val_q = bags(tokenize(tok, [p["query"] for p in val_pairs]))
    val_c = bags(tokenize(tok, [p["code"] for p in val_pairs]))
    val_lang = np.array([p["lang"] for p in val_pairs])
    print(f"{len(pairs)} pairs ({digest[:12]}…): {len(train_pairs)} training, {len(val_pairs)} held out; "
          f"tokenized in {time.time() - t:.0f} s", file=sys.stderr, flush=True)
    return dict(digest=digest, pairs=pairs, train_pairs=train_pairs, val_pairs=val_pairs, table16=table16, meta=meta,
                train_q=train_q, train_c=train_c, val=(val_q, val_c, val_lang))


def untouched_rows(train_q, train_c, vocab):
    seen = np.zeros(vocab, dtype=bool)
    for ids in train_q + train_c:
        seen[ids] = True
    return ~seen


def build(args, data, settings, out: Path):
    before, before_per = held_out_scores(data["table16"], *data["val"])
    print(f"held-out MRR@10 before: {before:.4f} {before_per}", file=sys.stderr, flush=True)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    t = time.time()
    table, epoch, history, per, after = train(data["table16"], data["train_q"], data["train_c"], data["val"], settings, log)
    seconds = time.time() - t
    unseen = untouched_rows(data["train_q"], data["train_c"], len(table))
    changed = np.any(table != data["table16"], axis=1)
    assert not np.any(changed & unseen), "a row of a token absent from the training texts changed"
    import importlib.metadata as md
    meta = dict(data["meta"])
    meta.update({
        "trained_from": "the distilled table (scripts/static/distill.py), sha256 " + DISTILLED_SHA256,
        "training": json.dumps({**settings, "loss": "symmetric InfoNCE, in-batch", "optimizer": "Adam",
                                "schedule": "linear warm-up, linear decay", "query_prefix": "",
                                "threads": 1, "script": "scripts/static/train.py"}, sort_keys=True),
        "training_pairs": "scripts/adapters/mine-pairs.js pairs (scripts/adapters/SOURCES.md)",
        "pairs_sha256": data["digest"],
        "pairs": str(len(data["pairs"])),
        "pairs_train": str(len(data["train_pairs"])),
        "pairs_held_out": str(len(data["val_pairs"])),
        "epoch": str(epoch),
        "held_out_mrr10_before": f"{before:.4f}",
        "held_out_mrr10_after": f"{after:.4f}",
        "held_out_mrr10_per_language": json.dumps({k: {"before": round(before_per[k], 4), "after": round(per[k], 4)}
                                                   for k in per}, sort_keys=True),
        "rows_changed": str(int(changed.sum())),
        "training_versions": json.dumps({"python": sys.version.split()[0],
                                         **{p: md.version(p) for p in ("torch", "numpy", "tokenizers", "safetensors")}},
                                        sort_keys=True),
    })
    out.mkdir(parents=True, exist_ok=True)
    for f in ("tokenizer.json", "config.json"):
        src = REPO / "models/static" / f
        if (out / f).resolve() != src.resolve():
            (out / f).write_bytes(src.read_bytes())
    write_safetensors(out / "model.safetensors", "embeddings", table, meta)
    check_loads(out, table)
    sums = {f: sha256(out / f) for f in ("model.safetensors", "tokenizer.json", "config.json")}
    (out / "SHA256SUMS").write_text("".join(f"{h}  {f}\n" for f, h in sums.items()))
    print(f"trained in {seconds:.0f} s, epoch {epoch} of {settings['epochs']} (held-out per epoch {history}); "
          f"held-out MRR@10 {before:.4f} -> {after:.4f}; {int(changed.sum())} rows changed, "
          f"{int(unseen.sum())} rows unseen in training", file=sys.stderr)
    for f, h in sums.items():
        print(f"{h}  {f}  ({(out / f).stat().st_size} bytes)")
    return sums


def check_loads(out: Path, table):
    """model2vec loads the folder and encodes as the training computed."""
    import torch
    from model2vec import StaticModel
    m = StaticModel.from_pretrained(str(out), quantize_to="float32")
    assert np.array_equal(m.embedding, table.astype(np.float32))
    probe = ["def read_json(path):\n    return json.load(open(path))", "Parse a JSON file.", "x" * 4000 + " y", "🙂"]
    tok = load_tokenizer(REPO / "models/static")
    ids = tokenize(tok, probe)
    assert ids == m.tokenize([p[:MAX_LENGTH * m.median_token_length] for p in probe])
    mine = embed(torch.from_numpy(table.astype(np.float32)), *bags(ids)).numpy()
    theirs = m.encode(probe)
    assert np.allclose(mine, theirs, rtol=0, atol=1e-6), np.abs(mine - theirs).max()


def sweep(args, data):
    grid = json.loads(args.grid) if args.grid else [DEFAULTS]
    rows = []
    before, before_per = held_out_scores(data["table16"], *data["val"])
    print(f"held-out MRR@10 before: {before:.4f} {before_per}", flush=True)
    for g in grid:
        settings = {**DEFAULTS, **g}
        t = time.time()
        _, epoch, history, per, after = train(data["table16"], data["train_q"], data["train_c"], data["val"], settings,
                                              log=lambda s: print("   ", s, flush=True))
        row = {"settings": settings, "best_epoch": epoch, "held_out_mrr10": round(after, 4), "history": history,
               "per_language": {k: round(v, 4) for k, v in per.items()}, "seconds": round(time.time() - t)}
        print(json.dumps(row), flush=True)
        rows.append(row)
        if args.sweep:
            Path(args.sweep).write_text(json.dumps({"before": before, "before_per_language": before_per, "runs": rows}, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--any-pairs", action="store_true", help="train on a pairs file whose sha256 differs")
    ap.add_argument("--init", type=Path, help=f"the distilled table (default: git {DISTILLED_COMMIT}:{DISTILLED_PATH})")
    ap.add_argument("--out", type=Path, default=REPO / "models/static")
    ap.add_argument("--check", action="store_true", help="train into a temporary folder, compare with --out/SHA256SUMS")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--sweep", help="write the held-out figures of the settings in --grid to this JSON file")
    ap.add_argument("--grid", help="JSON list of settings overrides for --sweep")
    for k, v in DEFAULTS.items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    args = ap.parse_args()
    settings = {k: getattr(args, k) for k in DEFAULTS}
    data = prepare(args)
    if args.eval_only:
        mrr, per = held_out_scores(data["table16"], *data["val"])
        print(json.dumps({"held_out_mrr10": round(mrr, 4), "per_language": {k: round(v, 4) for k, v in per.items()},
                          "held_out": len(data["val_pairs"])}))
    elif args.sweep or args.grid:
        sweep(args, data)
    elif args.check:
        want = {f: h for h, f in (line.split("  ", 1) for line in (args.out / "SHA256SUMS").read_text().splitlines())}
        with tempfile.TemporaryDirectory() as tmp:
            got = build(args, data, settings, Path(tmp))
        bad = [f for f in want if want[f] != got.get(f)]
        if bad:
            raise SystemExit(f"differs from {args.out}: {', '.join(bad)}")
        print(f"identical to {args.out}/SHA256SUMS")
    else:
        build(args, data, settings, args.out)


if __name__ == "__main__":
    main()
