"""Reference vectors for the encoder parity test, computed with PyTorch sentence-transformers.

Run from the repository root after `bash scripts/setup.sh`:
    python -m venv .cache/ref && .cache/ref/bin/pip install torch sentence-transformers
    .cache/ref/bin/python scripts/reference/make_vectors.py [MODEL_DIR ...]
    .cache/ref/bin/python scripts/reference/make_vectors.py --adapter FILE --name NAME BASE_MODEL_DIR
With --adapter, the base model runs with the LoRA adapter applied as PyTorch computes LoRA
(x·Wᵀ + (x·Aᵀ)·Bᵀ per adapted layer, nothing merged), which checks the merge in server/model/adapters.ts.
Writes test/fixtures/reference/<model or NAME>.json: the inputs, the reference token ids and the vectors
(float32, base64), with the library versions that produced them. The test suite reads the fixture;
CI needs no PyTorch.
"""
import base64, json, os, sys

import numpy as np
import sentence_transformers
import tokenizers
import torch
import transformers
from sentence_transformers import SentenceTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

LONG = " ".join(f"def handler_{i}(request): return process(request.body, retries={i})" for i in range(118))

INPUTS = [
    ("python", "def retry_upload(client, path, attempts=3):\n    for i in range(attempts):\n        try:\n            return client.put(path)\n        except IOError:\n            time.sleep(2 ** i)\n    raise UploadFailed(path)"),
    ("typescript", "export async function fetchJson<T>(url: string, init?: RequestInit): Promise<T> {\n  const res = await fetch(url, init);\n  if (!res.ok) throw new HttpError(res.status, await res.text());\n  return res.json() as Promise<T>;\n}"),
    ("javascript", "const debounce = (fn, ms) => { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; };"),
    ("go", "func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {\n\tif r.Method != http.MethodGet {\n\t\thttp.Error(w, \"method not allowed\", 405)\n\t\treturn\n\t}\n\ts.mux.ServeHTTP(w, r)\n}"),
    ("rust", "impl<T: Ord> BinaryHeap<T> {\n    pub fn push(&mut self, item: T) {\n        self.data.push(item);\n        self.sift_up(self.data.len() - 1);\n    }\n}"),
    ("java", "public final class LruCache<K, V> extends LinkedHashMap<K, V> {\n  private final int capacity;\n  @Override protected boolean removeEldestEntry(Map.Entry<K, V> e) { return size() > capacity; }\n}"),
    ("c", "static int parse_header(const char *buf, size_t len, struct header *out) {\n    if (len < 8) return -EINVAL;\n    memcpy(&out->magic, buf, 4);\n    return 0;\n}"),
    ("cpp", "template <typename T>\nclass RingBuffer {\n public:\n  explicit RingBuffer(size_t n) : data_(n) {}\n  void push(T v) { data_[head_++ % data_.size()] = std::move(v); }\n private:\n  std::vector<T> data_;\n  size_t head_ = 0;\n};"),
    ("csharp", "public async Task<IActionResult> GetUser(int id) {\n    var user = await _db.Users.FindAsync(id);\n    return user is null ? NotFound() : Ok(user);\n}"),
    ("ruby", "def each_slice_with_index(items, size)\n  items.each_slice(size).with_index { |slice, i| yield slice, i }\nend"),
    ("php", "<?php function slugify(string $s): string { return strtolower(trim(preg_replace('/[^A-Za-z0-9-]+/', '-', $s), '-')); }"),
    ("bash", "for f in \"$@\"; do\n  [ -f \"$f\" ] || { echo \"missing: $f\" >&2; exit 1; }\n  sha256sum \"$f\"\ndone"),
    ("sql", "SELECT u.id, count(o.id) AS orders FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id HAVING count(o.id) > 5;"),
    ("prose", "where do we retry failed uploads"),
    ("prose", "The quick brown fox jumps over the lazy dog."),
    ("prose", "Semantic code search finds the function you mean even when it never uses your words."),
    ("markdown", "# Installation\n\nRun `npm install` and then `npm test`. See [the docs](https://example.com) for details."),
    ("empty", ""),
    ("whitespace", "   \n\t  "),
    ("unicode", "Größenänderung des Puffers — バッファのサイズ変更 — изменение размера буфера 🚀 naïve café"),
    ("unicode-code", "def 计算总和(数字列表):\n    return sum(数字列表)  # ∑ über alle Einträge"),
    ("symbols", "!== === => <= >= && || ?? ?. :: -> <<= >>>= ... ;;; {}[]()"),
    ("long-2000-tokens", LONG),
    ("camelCase", "getUserByEmailAddress parseHttpRequestHeaders XMLHttpRequestFactory snake_case_identifier_name"),
]


class LoRALinear(torch.nn.Module):
    def __init__(self, base, a, b):
        super().__init__()
        self.base, self.a, self.b = base, a, b

    def forward(self, x):
        return self.base(x) + (x @ self.a.T) @ self.b.T


def apply_adapter(model, adapter_file):
    from safetensors.torch import load_file
    tensors = load_file(adapter_file)
    encoder = model[0].auto_model
    layers = sorted({k.rsplit(".lora_", 1)[0] for k in tensors})
    for layer in layers:
        parent_name, attr = layer.rsplit(".", 1)
        parent = encoder.get_submodule(parent_name)
        a = tensors[layer + ".lora_A"].float()
        b = tensors[layer + ".lora_B"].float()
        setattr(parent, attr, LoRALinear(getattr(parent, attr), a, b))
    return len(layers)


def main(model_dirs, adapter=None, name=None):
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for model_dir in model_dirs:
        model = SentenceTransformer(model_dir, device="cpu")
        if adapter:
            print(f"{adapter}: {apply_adapter(model, adapter)} layers adapted")
        model.eval()
        texts = [t for _, t in INPUTS]
        with torch.no_grad():
            vectors = model.encode(texts, batch_size=8, convert_to_numpy=True, normalize_embeddings=True).astype(np.float32)
        tok = model.tokenizer
        ids = [tok(t, truncation=True, max_length=model.max_seq_length)["input_ids"] for t in texts]
        name = name or os.path.basename(os.path.normpath(model_dir))
        out = {
            "model": name,
            "generator": "scripts/reference/make_vectors.py",
            **({"adapter": os.path.basename(adapter)} if adapter else {}),
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "sentence_transformers": sentence_transformers.__version__,
                "tokenizers": tokenizers.__version__,
            },
            "max_seq_length": model.max_seq_length,
            "dim": int(vectors.shape[1]),
            "cases": [
                {"label": label, "text": text, "ids": ids[i],
                 "vector": base64.b64encode(vectors[i].tobytes()).decode("ascii")}
                for i, (label, text) in enumerate(INPUTS)
            ],
        }
        dest = os.path.join(ROOT, "test", "fixtures", "reference", f"{name}.json")
        with open(dest, "w") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"{dest}: {len(INPUTS)} cases, dim {vectors.shape[1]}, token counts {[len(x) for x in ids]}")


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--adapter")
    ap.add_argument("--name")
    ap.add_argument("model_dirs", nargs="*")
    args = ap.parse_args()
    main(args.model_dirs or [os.path.join(ROOT, ".models", "all-MiniLM-L6-v2")], args.adapter, args.name)
