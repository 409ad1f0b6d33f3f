"""PyTorch side of bench/embed: the same chunks through sentence-transformers.

usage: embed_torch.py <model dir> <chunks.json> <out.json> --threads N [--batches 1,8,32,64] [--e2e 32]
       [--min-seconds 3] [--vectors addon.json] [--device cpu|cuda] [--dtype float32|float16]

On CUDA every timed call ends with torch.cuda.synchronize(), so the time covers the GPU's work.

"model" times SentenceTransformer.forward on the very token ids the addon gets (transformer,
pooling, normalisation); "e2e" times SentenceTransformer.encode on the texts (tokenization included).
"""
import argparse
import json
import time

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer


def timed(fn, min_seconds, sync=lambda: None):
    """Call fn once to warm up, then until min_seconds have passed (at least 2, at most 10 times)."""
    fn()
    sync()
    seconds = []
    while len(seconds) < 2 or (sum(seconds) < min_seconds and len(seconds) < 10):
        start = time.perf_counter()
        fn()
        sync()
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("chunks")
    p.add_argument("out")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batches", default="1,8,32,64")
    p.add_argument("--e2e", default="32")
    p.add_argument("--min-seconds", type=float, default=3.0)
    p.add_argument("--vectors", help="addon result JSON whose first vectors to compare with")
    p.add_argument("--round", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    chunks = json.load(open(a.chunks))
    model = SentenceTransformer(a.model, device=a.device)
    if a.dtype == "float16":
        model.half()
    model.eval()
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    tokens = chunks["tokens"]
    result = {
        "torch": torch.__version__,
        "sentenceTransformers": sentence_transformers.__version__,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu",
        "dtype": a.dtype,
        "round": a.round,
        "model": [],
        "e2e": [],
    }

    def features(rows):
        ids = torch.tensor(rows, dtype=torch.long, device=a.device)
        return {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "token_type_ids": torch.zeros_like(ids),
        }

    with torch.inference_mode():
        for batch in [int(b) for b in a.batches.split(",") if b]:
            rows = [chunks["ids"][i % len(chunks["ids"])] for i in range(batch)]
            f = features(rows)
            seconds = timed(lambda: model.forward(dict(f)), a.min_seconds, sync)
            result["model"].append({"batch": batch, "seconds": seconds})
            print(f"  PyTorch batch {batch}: {batch * tokens / min(seconds):.0f} tokens/s", flush=True)
        for batch in [int(b) for b in a.e2e.split(",") if b]:
            texts = [chunks["texts"][i % len(chunks["texts"])] for i in range(batch)]
            seconds = timed(lambda: model.encode(texts, batch_size=batch, convert_to_numpy=True), a.min_seconds, sync)
            result["e2e"].append({"batch": batch, "seconds": seconds})
        if a.vectors:
            ours = torch.tensor(json.load(open(a.vectors))["vectors"])
            theirs = model.forward(features(chunks["ids"][: len(ours)]))["sentence_embedding"]
            theirs = torch.nn.functional.normalize(theirs.float().cpu(), dim=1)
            result["minCosine"] = float((ours * theirs).sum(dim=1).min())
    json.dump(result, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
