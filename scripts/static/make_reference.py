#!/usr/bin/env python3
"""Reference fixture for the static model's parity test, computed with model2vec itself.

    python scripts/static/make_reference.py [--model models/static] [--name NAME]

Writes test/fixtures/reference/static-<NAME>.json: for each input, the token ids model2vec feeds to
the table (after its character pre-cut, its 512-token truncation and its removal of [UNK]) and the
output of StaticModel.encode:
  vector               float32 little-endian, base64: encode() with the table read as float32
                       (StaticModel.from_pretrained(dir, quantize_to="float32")): the exact mean of
                       the float16 rows, L2-normalised, all in float32. This is what the engine must
                       reproduce (cosine >= 0.99999; element-wise within ~1e-6).
  vector_model2vec_f16 the same through model2vec as it loads the shipped folder by default (float16
                       table): encode() then returns float16 (mean rounded to float16, then the
                       normalised vector rounded again), stored widened to float32, base64.
  untruncated          for inputs over max_length: ids and vector with encode(max_length=None).
The script checks that mean(table[ids]) / norm equals encode()'s output, so that `ids` is what the
table saw. The test suite reads the fixture; CI needs no Python.
"""
from __future__ import annotations

import argparse
import base64
import importlib.metadata as md
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[2]
BGE_QUERY = "Represent this sentence for searching relevant passages: "

LONG = " ".join(f"def handler_{i}(request): return process(request.body, retries={i})" for i in range(118))
# Deeply indented code: the character pre-cut (max_length * median_token_length characters) ends it
# before 512 tokens are reached.
LONG_INDENTED = "\n".join(" " * 40 + f"value_{i} = compute(value_{i - 1}, {i})" for i in range(1, 400))

INPUTS = [
    ("python", "def retry_upload(client, path, attempts=3):\n    for i in range(attempts):\n        try:\n            return client.put(path)\n        except IOError:\n            time.sleep(2 ** i)\n    raise UploadFailed(path)"),
    ("typescript", "export async function fetchJson<T>(url: string, init?: RequestInit): Promise<T> {\n  const res = await fetch(url, init);\n  if (!res.ok) throw new HttpError(res.status, await res.text());\n  return res.json() as Promise<T>;\n}"),
    ("javascript", "const debounce = (fn, ms) => { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; };"),
    ("go", "func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {\n\tif r.Method != http.MethodGet {\n\t\thttp.Error(w, \"method not allowed\", 405)\n\t\treturn\n\t}\n\ts.mux.ServeHTTP(w, r)\n}"),
    ("rust", "impl<T: Ord> BinaryHeap<T> {\n    pub fn push(&mut self, item: T) {\n        self.data.push(item);\n        self.sift_up(self.data.len() - 1);\n    }\n}"),
    ("java", "public final class LruCache<K, V> extends LinkedHashMap<K, V> {\n  private final int capacity;\n  @Override protected boolean removeEldestEntry(Map.Entry<K, V> e) { return size() > capacity; }\n}"),
    ("c", "static int parse_header(const char *buf, size_t len, struct header *out) {\n    if (len < 8) return -EINVAL;\n    memcpy(&out->magic, buf, 4);\n    return 0;\n}"),
    ("cpp", "template <typename T>\nclass RingBuffer {\n public:\n  explicit RingBuffer(size_t n) : data_(n) {}\n  void push(T v) { data_[head_++ % data_.size()] = std::move(v); }\n private:\n  std::vector<T> data_;\n  size_t head_ = 0;\n};"),
    ("sql", "SELECT u.id, count(o.id) AS orders FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id HAVING count(o.id) > 5;"),
    ("bash", "for f in \"$@\"; do\n  [ -f \"$f\" ] || { echo \"missing: $f\" >&2; exit 1; }\n  sha256sum \"$f\"\ndone"),
    ("prose", "where do we retry failed uploads"),
    ("prose", "The quick brown fox jumps over the lazy dog."),
    ("prose", "Semantic code search finds the function you mean even when it never uses your words."),
    ("query-with-instruction", BGE_QUERY + "where do we retry failed uploads"),
    ("instruction-only", BGE_QUERY),
    ("markdown", "# Installation\n\nRun `npm install` and then `npm test`. See [the docs](https://example.com) for details."),
    ("empty", ""),
    ("whitespace", "   \n\t  \r\n "),
    ("accents", "Größenänderung des Puffers: naïve café, déjà vu, façade, Ångström"),
    ("accents-decomposed", "cafe\u0301 nai\u0308ve"),
    ("cjk", "バッファのサイズ変更 — 计算总和 — 데이터 처리"),
    ("emoji", "🚀 deploy done ✅ 🎉👍🏽"),
    ("unicode-code", "def 计算总和(数字列表):\n    return sum(数字列表)  # ∑ über alle Einträge"),
    ("only-unknown", "🚀🎉 𓀀𓀁"),
    ("special-token-text", "[CLS] hello [SEP] [MASK] [PAD] [UNK] [unused1] world"),
    ("control-and-zero-width", "tab\there\u200bzero\u00adsoft\u0000nul\u0007bell"),
    ("word-over-100-chars", "prefix " + "x" * 120 + " suffix"),
    ("symbols", "!== === => <= >= && || ?? ?. :: -> <<= >>>= ... ;;; {}[]()"),
    ("numbers", "0x7fffffff 3.14159 1e-9 42 1_000_000 -0.0"),
    ("camelCase", "getUserByEmailAddress parseHttpRequestHeaders XMLHttpRequestFactory snake_case_identifier_name"),
    ("long-2000-tokens", LONG),
    ("long-indented", LONG_INDENTED),
]


def b64(v: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(v, dtype="<f4").tobytes()).decode("ascii")


def fed_ids(model, text: str, max_length: int | None) -> list[int]:
    """The ids StaticModel.encode looks up for `text` (mirrors StaticModel._encode_dispatch + tokenize)."""
    if max_length is not None:
        text = text[: max_length * model.median_token_length]
    model._set_max_length_in_tokenizer(max_length)
    try:
        return model.tokenize([text])[0]
    finally:
        model._set_max_length_in_tokenizer(model.max_length)


def reference_mean(table32: np.ndarray, ids: list[int]) -> np.ndarray:
    if not ids:
        return np.zeros(table32.shape[1], dtype=np.float32)
    v = table32[ids].mean(axis=0)
    return (v / (np.linalg.norm(v) + 1e-32)).astype(np.float32)


def main() -> None:
    from model2vec import StaticModel
    from safetensors import safe_open

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=REPO / "models/static")
    ap.add_argument("--name", default="bge-small-en-v1.5-code")
    args = ap.parse_args()

    m32 = StaticModel.from_pretrained(str(args.model), quantize_to="float32")  # float16 rows, widened exactly
    m16 = StaticModel.from_pretrained(str(args.model))  # as model2vec loads the folder by default
    assert m16.embedding.dtype == np.float16 and m32.embedding.dtype == np.float32
    assert np.array_equal(m32.embedding, m16.embedding.astype(np.float32))
    with safe_open(str(args.model / "model.safetensors"), framework="numpy") as f:
        header = f.metadata()
    max_length = m32.max_length
    encode_args = {"max_length": max_length, "normalize": m32.normalize}
    texts = [t for _, t in INPUTS]
    v32 = m32.encode(texts, **encode_args)
    v16 = m16.encode(texts, **encode_args)
    assert v32.dtype == np.float32 and v16.dtype == np.float16

    cases = []
    for i, (label, text) in enumerate(INPUTS):
        ids = fed_ids(m32, text, max_length)
        assert ids == fed_ids(m16, text, max_length)
        ref = reference_mean(m32.embedding, ids)
        assert np.allclose(ref, v32[i], rtol=0, atol=2e-7), (label, np.abs(ref - v32[i]).max())
        single = m32.encode(text, **encode_args)  # one input alone gives the same vector as in a batch
        assert np.array_equal(single, v32[i]), label
        case = {
            "label": label,
            "text": text,
            "ids": ids,
            "tokens": [m32.tokens[t] for t in ids],
            "vector": b64(v32[i]),
            "vector_model2vec_f16": b64(v16[i].astype(np.float32)),
            "zero": bool(not ids),
        }
        full_ids = fed_ids(m32, text, None)
        if full_ids != ids:
            full = m32.encode(text, max_length=None, normalize=True)
            assert np.allclose(reference_mean(m32.embedding, full_ids), full, rtol=0, atol=2e-7)
            case["untruncated"] = {"encode_args": {"max_length": None, "normalize": True}, "ids": full_ids,
                                   "vector": b64(full)}
        cases.append(case)

    versions = {p: md.version(p) for p in ("model2vec", "tokenizers", "numpy", "safetensors")}
    versions["python"] = sys.version.split()[0]
    out = {
        "model": f"static-{args.name}",
        "generator": "scripts/static/make_reference.py",
        "model_dir": "models/static",
        "model_sha256": _sha256(args.model / "model.safetensors"),
        "model_metadata": dict(sorted(header.items())),  # safetensors returns it unordered
        "tokenizer_sha256": _sha256(args.model / "tokenizer.json"),
        "versions": versions,
        "encode": "StaticModel.from_pretrained('models/static', quantize_to='float32').encode(texts, max_length=%r, normalize=%r)"
                  % (max_length, m32.normalize),
        "encode_args": encode_args,
        "median_token_length": m32.median_token_length,
        "char_cut": max_length * m32.median_token_length if max_length else None,
        "unk_id": m32.unk_token_id,
        "dim": int(m32.dim),
        "vector_encoding": "base64 of little-endian float32",
        "cases": cases,
    }
    dest = REPO / "test/fixtures/reference" / f"static-{args.name}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    d16 = np.abs(v32 - v16.astype(np.float32)).max()
    cos16 = min(float(v32[i] @ v16[i].astype(np.float32)) for i in range(len(texts)) if cases[i]["ids"])
    print(f"{dest}: {len(cases)} cases, dim {m32.dim}, token counts {[len(c['ids']) for c in cases]}; "
          f"float16 path vs float32: max |diff| {d16:.2e}, min cosine {cos16:.7f}")


def _sha256(path: Path) -> str:
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    main()
