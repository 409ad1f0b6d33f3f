"""Train a code adapter: LoRA on every linear layer of a BERT embedder's encoder (CLS pooling).

    python scripts/adapters/train_lora.py BASE_MODEL_DIR PAIRS.jsonl OUT.safetensors [--rank 32] ...

PAIRS.jsonl comes from mine-pairs.js. Loss: symmetric InfoNCE over the batch (each query against
every code of the batch and back), queries with the model's query instruction. A tenth of the
source files is held out; the adapter of the epoch with the best held-out MRR@10 is written, in
float16, as `<layer>.lora_A` (rank x in) and `<layer>.lora_B` (out x rank, scale folded in): the
format server/model/adapters.ts merges. Needs torch and transformers; a GPU makes it minutes.
"""
import argparse, hashlib, json, math, os, random, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import AutoModel, AutoTokenizer

LINEARS = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense"]


class LoRA(nn.Module):
    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base, self.scale = base, alpha / rank
        self.A = nn.Parameter(torch.empty(rank, base.in_features))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x):
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.scale


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("pairs")
    ap.add_argument("out")
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.02)
    ap.add_argument("--query-tokens", type=int, default=64)
    ap.add_argument("--code-tokens", type=int, default=256)
    ap.add_argument("--query-prefix", default="Represent this sentence for searching relevant passages: ")
    args = ap.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    random.seed(0)
    with open(args.pairs, "rb") as f:
        raw = f.read()
    pairs = [json.loads(line) for line in raw.decode("utf8").splitlines() if line]
    files = sorted({(p["lang"], p["src"], p["path"]) for p in pairs})
    np.random.default_rng(0).shuffle(files)
    held_out = set(files[: len(files) // 10])
    train = [p for p in pairs if (p["lang"], p["src"], p["path"]) not in held_out]
    val = [p for p in pairs if (p["lang"], p["src"], p["path"]) in held_out]

    tok = AutoTokenizer.from_pretrained(args.base)
    model = AutoModel.from_pretrained(args.base, torch_dtype=torch.float32).to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    adapted = []
    for i, layer in enumerate(model.encoder.layer):
        for name in LINEARS:
            parent_name, attr = name.rsplit(".", 1)
            parent = layer.get_submodule(parent_name)
            lora = LoRA(getattr(parent, attr), args.rank, args.alpha).to(device)
            setattr(parent, attr, lora)
            adapted.append((f"encoder.layer.{i}.{name}", lora))
    params = [t for _, lora in adapted for t in (lora.A, lora.B)]
    print(f"{len(adapted)} layers, {sum(t.numel() for t in params)} parameters; {len(train)} training pairs, {len(val)} held out", flush=True)

    def encode(texts, max_len):
        batch = tok(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt").to(device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            cls = model(**batch).last_hidden_state[:, 0]
        return F.normalize(cls.float(), dim=-1)

    @torch.no_grad()
    def held_out_mrr():
        model.eval()
        q = torch.cat([encode([args.query_prefix + p["query"] for p in val[i:i + 256]], args.query_tokens) for i in range(0, len(val), 256)])
        c = torch.cat([encode([p["code"] for p in val[i:i + 256]], args.code_tokens) for i in range(0, len(val), 256)])
        scores = q @ c.T
        rank = (scores > scores.diagonal().unsqueeze(1)).sum(1) + 1
        rr = 1.0 / rank.float()
        rr[rank > 10] = 0
        model.train()
        return rr.mean().item()

    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    steps = args.epochs * (len(train) // args.batch)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    start = time.time()
    before = held_out_mrr()
    print(f"held-out MRR@10 before: {before:.4f}", flush=True)
    best = (-1.0, None, 0)
    for epoch in range(1, args.epochs + 1):
        random.shuffle(train)
        for i in range(0, len(train) - args.batch + 1, args.batch):
            b = train[i:i + args.batch]
            q = encode([args.query_prefix + p["query"] for p in b], args.query_tokens)
            c = encode([p["code"] for p in b], args.code_tokens)
            logits = q @ c.T / args.temperature
            labels = torch.arange(len(b), device=device)
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        mrr = held_out_mrr()
        print(f"epoch {epoch}: loss {loss.item():.3f}, held-out MRR@10 {mrr:.4f} ({time.time() - start:.0f} s)", flush=True)
        if mrr > best[0]:
            tensors = {}
            for name, lora in adapted:
                tensors[f"{name}.lora_A"] = lora.A.detach().half().cpu().contiguous()
                tensors[f"{name}.lora_B"] = (lora.B.detach() * lora.scale).half().cpu().contiguous()
            best = (mrr, tensors, epoch)
    meta = {
        "base": os.path.basename(os.path.normpath(args.base)),
        "pairs_sha256": hashlib.sha256(raw).hexdigest(),
        "pairs": str(len(pairs)),
        "settings": json.dumps({k: v for k, v in vars(args).items() if k not in ("base", "pairs", "out")}),
        "held_out_mrr10_before": f"{before:.4f}",
        "held_out_mrr10_after": f"{best[0]:.4f}",
        "epoch": str(best[2]),
        "torch": torch.__version__,
    }
    save_file(best[1], args.out, metadata=meta)
    print(f"{args.out}: epoch {best[2]}, held-out MRR@10 {before:.4f} -> {best[0]:.4f}", flush=True)


if __name__ == "__main__":
    main()
