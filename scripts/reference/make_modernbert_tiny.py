"""Tiny randomly initialised ModernBERT encoders and their PyTorch outputs, for the parity test.

No ModernBERT weights can be fetched where the test suite runs, so the test runs the addon on
small random models whose reference outputs come from `transformers`' own ModernBertModel.

Run from the repository root (any venv with torch, transformers >= 4.48 and safetensors):
    python scripts/reference/make_modernbert_tiny.py
Writes, for each model below, test/fixtures/reference/<name>/:
  config.json         as the Hub's ModernBERT folders spell it (global_rope_theta, local_rope_theta,
                      global_attn_every_n_layers), read back through ModernBertConfig before use
  model.safetensors   float32 weights
  tokenizer.json      modernbert-tiny only: a small WordPiece vocabulary, so the text path (tokenizer,
                      prefixes, truncation) can run end to end
  1_Pooling/config.json   only where the model declares its pooling the sentence-transformers way
  reference.json      token-id cases (and, with a tokenizer, text cases with their ids) and the
                      pooled, L2-normalised outputs (float32, base64), each computed alone and
                      inside one right-padded batch, with the library versions

The two models cover what real checkpoints vary in:
  modernbert-tiny       no biases, mean pooling from 1_Pooling, bare tensor names (ModernBertModel,
                        as sentence-transformers exports), 4 layers with global attention every 3rd
  modernbert-tiny-bias  norm/attention/MLP biases, CLS pooling from config.json's
                        classifier_pooling, tensor names under `model.` plus the masked-LM head
                        (ModernBertForMaskedLM, as answerdotai/ModernBERT-base ships)
Both use a local window (local_attention = 8: 4 tokens each side) far shorter than the longer
cases, so the sliding-window mask decides their outputs.
"""
import base64
import json
import os
import shutil

import numpy as np
import safetensors
import safetensors.torch
import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import ModernBertConfig, ModernBertForMaskedLM, ModernBertModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "test", "fixtures", "reference")

# Token-id lengths of the cases: one token, short ones, and ones several windows long.
LENGTHS = [1, 2, 5, 9, 16, 17, 31, 48, 64]

MODELS = [
    {
        "name": "modernbert-tiny",
        "seed": 20240601,
        "masked_lm": False,
        "pooling_file": "mean",
        "tokenizer": True,
        "config": {
            "vocab_size": 256,
            "hidden_size": 64,
            "intermediate_size": 96,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "global_attn_every_n_layers": 3,
            "local_attention": 8,
            # Not the defaults (160000 / 10000): the test then fails if either is ignored.
            "global_rope_theta": 20000.0,
            "local_rope_theta": 500.0,
            # Above the embedder's default cap of 512 tokens, as real ModernBERT models are.
            "max_position_embeddings": 1024,
            "norm_eps": 1e-5,
            "norm_bias": False,
            "attention_bias": False,
            "mlp_bias": False,
            "classifier_pooling": "cls",  # overridden by 1_Pooling (mean), as sentence-transformers does
        },
    },
    {
        "name": "modernbert-tiny-bias",
        "seed": 20240602,
        "masked_lm": True,
        "pooling_file": None,
        "tokenizer": False,
        "config": {
            "vocab_size": 128,
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_hidden_layers": 3,
            "num_attention_heads": 2,
            "global_attn_every_n_layers": 2,
            "local_attention": 8,
            "global_rope_theta": 160000.0,
            "local_rope_theta": 10000.0,
            "max_position_embeddings": 96,
            "norm_eps": 1e-6,
            "norm_bias": True,
            "attention_bias": True,
            "mlp_bias": True,
            "classifier_pooling": "cls",
        },
    },
]

# Text cases for the model with a tokenizer: code and prose, one longer than the window.
TEXTS = [
    "def retry_upload(client, path, attempts=3): return client.put(path)",
    "where do we retry failed uploads",
    "search_document: parse the http header and return 400 on error",
    " ".join(f"value_{i} = compute(value_{i - 1}, {i})" for i in range(1, 12)),
]

COMMON = {
    "architectures": ["ModernBertModel"],
    "model_type": "modernbert",
    "hidden_activation": "gelu",
    "pad_token_id": 0,
    "bos_token_id": 1,
    "cls_token_id": 1,
    "eos_token_id": 2,
    "sep_token_id": 2,
    "attention_dropout": 0.0,
    "embedding_dropout": 0.0,
    "mlp_dropout": 0.0,
}


def make_tokenizer(vocab_size: int) -> Tokenizer:
    """A BERT-style WordPiece tokenizer over a tiny vocabulary (ids 0-4 are the special tokens)."""
    pieces = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789")
    pieces += chars + list("_:()[]{},.=+-*/<>!?'\"#@&|;%$^~`\\") + ["##" + c for c in chars] + ["##_"]
    words = ["def", "return", "search", "document", "query", "value", "compute", "client", "path", "put",
             "upload", "retry", "attempts", "where", "do", "we", "failed", "parse", "the", "http", "header",
             "and", "on", "error", "##s", "##ed", "##ing", "##er", "##ry", "##ad", "##th", "##ue", "##ute"]
    pieces += [w for w in words if w not in pieces]
    assert len(pieces) <= vocab_size, len(pieces)
    vocab = {p: i for i, p in enumerate(pieces)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    return tok


def randomise(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Weights large enough that attention is far from uniform and every term matters.

    ModernBERT's own initialisation (std 0.02) leaves a tiny random model close to the identity
    around its embeddings, which would let a wrong window or rotary phase pass unnoticed.
    """
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("tok_embeddings.weight"):
                p.copy_(torch.randn(p.shape, generator=generator))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=generator))
            elif name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=generator))
            else:
                fan_in = p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=generator) * (1.2 / fan_in**0.5))


def cases(vocab: int, generator: torch.Generator) -> list[list[int]]:
    out = []
    for n in LENGTHS:
        body = torch.randint(3, vocab, (max(0, n - 2),), generator=generator).tolist()
        out.append([1] if n == 1 else [1, *body, 2])  # CLS … SEP, as the tokenizers add them
    return out


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "cls":
        v = hidden[:, 0]
    else:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        v = (hidden * m).sum(1) / m.sum(1)
    return torch.nn.functional.normalize(v, p=2, dim=1)


def b64(v: np.ndarray) -> str:
    return base64.b64encode(v.astype(np.float32).tobytes()).decode("ascii")


def build(spec: dict) -> None:
    name = spec["name"]
    dest = os.path.join(OUT, name)
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    generator = torch.Generator().manual_seed(spec["seed"])

    config_json = {**COMMON, **spec["config"]}
    if spec["masked_lm"]:
        config_json["architectures"] = ["ModernBertForMaskedLM"]
    with open(os.path.join(dest, "config.json"), "w") as f:
        json.dump(config_json, f, indent=2, sort_keys=True)
        f.write("\n")
    pooling = spec["pooling_file"] or spec["config"]["classifier_pooling"]
    if spec["pooling_file"]:
        os.makedirs(os.path.join(dest, "1_Pooling"))
        with open(os.path.join(dest, "1_Pooling", "config.json"), "w") as f:
            json.dump({
                "word_embedding_dimension": spec["config"]["hidden_size"],
                "pooling_mode_cls_token": spec["pooling_file"] == "cls",
                "pooling_mode_mean_tokens": spec["pooling_file"] == "mean",
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            }, f, indent=2)
            f.write("\n")

    # Read the written config back, so the reference is what transformers makes of these files.
    config = ModernBertConfig.from_pretrained(dest, attn_implementation="eager")
    config.tie_word_embeddings = False
    torch.manual_seed(spec["seed"])
    full = ModernBertForMaskedLM(config) if spec["masked_lm"] else ModernBertModel(config)
    randomise(full, generator)
    full.eval()
    encoder = full.model if spec["masked_lm"] else full

    tensors = {k: v.detach().contiguous().clone() for k, v in full.state_dict().items()}
    safetensors.torch.save_file(tensors, os.path.join(dest, "model.safetensors"), metadata={"format": "pt"})

    rows = cases(config.vocab_size, generator)
    texts = [None] * len(rows)
    if spec["tokenizer"]:
        tok = make_tokenizer(config.vocab_size)
        tok.save(os.path.join(dest, "tokenizer.json"))
        for text in TEXTS:
            rows.append(tok.encode(text).ids)
            texts.append(text)
    with torch.no_grad():
        alone = [pool(encoder(input_ids=torch.tensor([r])).last_hidden_state, torch.ones(1, len(r)), pooling)[0]
                 for r in rows]
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)  # pad id 0
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        batched = pool(encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask, pooling)

    worst = min(float(torch.dot(a, b)) for a, b in zip(alone, batched))
    # Without the window every token would see every other: check the window changes the output.
    with torch.no_grad():
        global_config = ModernBertConfig.from_pretrained(dest, attn_implementation="eager")
        global_config.layer_types = ["full_attention"] * config.num_hidden_layers
        everywhere = ModernBertModel(global_config)
        everywhere.load_state_dict(encoder.state_dict(), strict=True)
        everywhere.eval()
        long_row = rows[len(LENGTHS) - 1]
        unwindowed = pool(everywhere(input_ids=torch.tensor([long_row])).last_hidden_state,
                          torch.ones(1, len(long_row)), pooling)[0]
        window_effect = float(torch.dot(unwindowed, alone[len(LENGTHS) - 1]))

    reference = {
        "model": name,
        "generator": "scripts/reference/make_modernbert_tiny.py",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "safetensors": safetensors.__version__, "tokenizers": tokenizers.__version__},
        "seed": spec["seed"],
        "pooling": pooling,
        "dim": config.hidden_size,
        "layer_types": list(config.layer_types),
        "batch_vs_alone_worst_cosine": worst,
        "long_case_cosine_without_window": window_effect,
        "cases": [{**({"text": texts[i]} if texts[i] is not None else {}),
                   "ids": r, "alone": b64(alone[i].numpy()), "batched": b64(batched[i].numpy())}
                  for i, r in enumerate(rows)],
    }
    with open(os.path.join(dest, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(dest) for f in fs)
    print(f"{dest}: {len(rows)} cases (lengths {[len(r) for r in rows]}), pooling {pooling}, layers {list(config.layer_types)}, "
          f"{len(tensors)} tensors, {size} bytes; padded batch vs alone worst cosine {worst:.7f}; "
          f"longest case with every layer global: cosine {window_effect:.4f} (window matters if well below 1)")


def main() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"safetensors {safetensors.__version__}, tokenizers {tokenizers.__version__}")
    for spec in MODELS:
        build(spec)


if __name__ == "__main__":
    main()
