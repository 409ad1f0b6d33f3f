"""Turn a BERT encoder exported to ONNX back into the weights and config.json of transformers' BertModel.

Usage: onnx_to_safetensors.py MODEL.onnx OUT_DIR [--name HUB_ID]
Writes OUT_DIR/model.safetensors and OUT_DIR/config.json. Needs onnx, numpy and safetensors only.

The input is a BertModel traced by torch.onnx, as optimum and Xenova export them (inputs input_ids,
attention_mask, token_type_ids; output last_hidden_state). Such a graph keeps the embeddings, the
biases and the LayerNorm parameters under their PyTorch names, but stores every Linear weight as an
anonymous initializer (onnx::MatMul_1525) transposed to [in, out]. The MatMul node that reads it is
named after its module (/encoder/layer.3/attention/self/query/MatMul) and its output is added to that
module's bias; the weight takes the module's name only when both agree.

Strict, like a strict load: every tensor of a BertModel without pooler must be found exactly once, in
float32, with the shape the config implies, and every initializer of the graph must be used. Anything
extra, missing or mis-shaped stops the conversion with its name. What the weights cannot tell (the
number of heads, LayerNorm's epsilon, the activation) is read from the graph's constants and must be
the same in every layer.
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from safetensors.numpy import save_file


class ConversionError(Exception):
    pass


def fail(src, reason):
    raise ConversionError(f"{src}: {reason}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx_file")
    ap.add_argument("out_dir")
    ap.add_argument("--name", default="", help="Hub id written to config.json as _name_or_path")
    args = ap.parse_args()
    src = args.onnx_file
    graph = onnx.load(src).graph

    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node if n.op_type == "Constant"}
    nodes = {n.name: n for n in graph.node}
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def scalar(node_name):
        """The one constant (float scalar) input of a node, e.g. the epsilon added in a LayerNorm."""
        node = nodes.get(node_name)
        if node is None:
            fail(src, f"no node {node_name}: not a torch.onnx export of transformers' BertModel")
        values = [constants.get(i, initializers.get(i)) for i in node.input]
        values = [v for v in values if v is not None and v.size == 1]
        if len(values) != 1:
            fail(src, f"{node_name}: expected one scalar constant input, found {len(values)}")
        return float(values[0].reshape(()))

    # Parameters kept under their PyTorch names.
    state = {k: v for k, v in initializers.items() if not k.startswith("onnx::")}
    # Linear weights: named by the module of the MatMul that reads them, confirmed by the bias it adds.
    for n in graph.node:
        if n.op_type != "MatMul" or n.input[1] not in initializers:
            continue
        m = re.fullmatch(r"/((?:embeddings|encoder)/.+)/MatMul", n.name)
        if not m:
            fail(src, f"MatMul node {n.name!r} with weight {n.input[1]} is not named after a module")
        module = m.group(1).replace("/", ".")
        adds = consumers.get(n.output[0], [])
        if len(adds) != 1 or adds[0].op_type != "Add" or f"{module}.bias" not in adds[0].input:
            fail(src, f"{n.name}: its output is not added to {module}.bias, so {n.input[1]} cannot be named {module}.weight")
        if f"{module}.weight" in state:
            fail(src, f"{module}.weight is found twice")
        state[f"{module}.weight"] = np.ascontiguousarray(initializers[n.input[1]].T)  # [in, out] -> [out, in]
    unused = sorted(k for k in initializers if k.startswith("onnx::") and not any(
        c.op_type == "MatMul" and c.input[1] == k for c in consumers.get(k, [])))
    if unused:
        fail(src, f"initializers not mapped to BertModel names: {', '.join(unused)}")

    # Config from the weights' shapes.
    if "embeddings.word_embeddings.weight" not in state or "encoder.layer.0.intermediate.dense.weight" not in state:
        fail(src, "no embeddings.word_embeddings.weight or encoder.layer.0: not a BERT encoder")
    vocab, hidden = state["embeddings.word_embeddings.weight"].shape
    intermediate = state["encoder.layer.0.intermediate.dense.weight"].shape[0]
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layer."))
    positions = state.get("embeddings.position_embeddings.weight", np.zeros((0, 0))).shape[0]
    token_types = state.get("embeddings.token_type_embeddings.weight", np.zeros((0, 0))).shape[0]

    # Config from the graph: scores are divided by sqrt(head_dim); each LayerNorm adds its epsilon;
    # GELU is exact (x/2 · (1 + erf(x/√2))), not the tanh approximation.
    scales = {scalar(f"/encoder/layer.{i}/attention/self/Div") for i in range(layers)}
    head_dims = {round(s * s) for s in scales}
    if len(head_dims) != 1 or any(abs(s * s - next(iter(head_dims))) > 1e-3 for s in scales):
        fail(src, f"attention scales {sorted(scales)} are not one sqrt(head_dim)")
    head_dim = head_dims.pop()
    if hidden % head_dim:
        fail(src, f"hidden size {hidden} is not a multiple of head_dim {head_dim}")
    norms = ["/embeddings/LayerNorm"] + [f"/encoder/layer.{i}/{p}/LayerNorm" for i in range(layers) for p in ("attention/output", "output")]
    epsilons = {scalar(f"{p}/Add") for p in norms}
    if len(epsilons) != 1:
        fail(src, f"LayerNorms use different epsilons {sorted(epsilons)}")
    eps = float(str(np.float32(epsilons.pop())))  # the shortest decimal of the float32 constant: 1e-12
    for i in range(layers):
        if f"/encoder/layer.{i}/intermediate/intermediate_act_fn/Erf" not in nodes:
            fail(src, f"layer {i}: the activation is not exact (erf) GELU")

    # Every tensor of a pooler-less BertModel, and nothing else.
    expected = {
        "embeddings.word_embeddings.weight": (vocab, hidden),
        "embeddings.position_embeddings.weight": (positions, hidden),
        "embeddings.token_type_embeddings.weight": (token_types, hidden),
        "embeddings.LayerNorm.weight": (hidden,),
        "embeddings.LayerNorm.bias": (hidden,),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name, (out_features, in_features) in {
            "attention.self.query": (hidden, hidden),
            "attention.self.key": (hidden, hidden),
            "attention.self.value": (hidden, hidden),
            "attention.output.dense": (hidden, hidden),
            "intermediate.dense": (intermediate, hidden),
            "output.dense": (hidden, intermediate),
        }.items():
            expected[p + name + ".weight"] = (out_features, in_features)
            expected[p + name + ".bias"] = (out_features,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            expected[p + norm + ".weight"] = (hidden,)
            expected[p + norm + ".bias"] = (hidden,)
    problems = [f"missing {k}" for k in sorted(expected.keys() - state.keys())]
    problems += [f"unexpected {k}" for k in sorted(state.keys() - expected.keys())]
    problems += [f"{k}: shape {tuple(state[k].shape)}, expected {s}" for k, s in sorted(expected.items())
                 if k in state and tuple(state[k].shape) != s]
    problems += [f"{k}: dtype {v.dtype}, expected float32" for k, v in sorted(state.items()) if v.dtype != np.float32]
    if problems:
        fail(src, "does not map onto BertModel: " + "; ".join(problems))

    config = {
        "_name_or_path": args.name, "architectures": ["BertModel"], "model_type": "bert",
        "attention_probs_dropout_prob": 0.1, "classifier_dropout": None, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": hidden, "initializer_range": 0.02,
        "intermediate_size": intermediate, "layer_norm_eps": eps, "max_position_embeddings": positions,
        "num_attention_heads": hidden // head_dim, "num_hidden_layers": layers, "pad_token_id": 0,
        "position_embedding_type": "absolute", "type_vocab_size": token_types, "use_cache": True,
        "vocab_size": vocab, "torch_dtype": "float32",
    }
    os.makedirs(args.out_dir, exist_ok=True)
    weights = os.path.join(args.out_dir, "model.safetensors")
    save_file(state, weights, metadata={"format": "pt"})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(weights, 0o666 & ~umask)  # save_file leaves 0600; give it the mode of every other file
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"{args.out_dir}: {len(state)} tensors, {sum(v.size for v in state.values()):,} parameters; "
          f"{layers} layers, hidden {hidden}, {hidden // head_dim} heads, intermediate {intermediate}, "
          f"vocab {vocab}, positions {positions}, eps {eps}")


if __name__ == "__main__":
    try:
        main()
    except ConversionError as e:
        print(f"onnx_to_safetensors: error: {e}", file=sys.stderr)
        sys.exit(1)
