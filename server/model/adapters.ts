/**
 * Code adapters: low-rank weight deltas (LoRA) that tune a catalogue model for code search.
 *
 * An adapter is a small safetensors file shipped in `models/adapters/` (trained by
 * `scripts/adapters/`): for each adapted linear layer `<name>` it holds `<name>.lora_A`
 * (rank × in) and `<name>.lora_B` (out × rank, scale folded in). The derived model is the base
 * model's folder with `<name>.weight` replaced by W + B·A, written once into a folder of its own;
 * from there on it is an ordinary model folder. Merging ahead of time keeps the encoder's forward
 * pass and weight mapping unchanged and costs nothing per query.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeSafetensors, readSafetensors, SafetensorsError, SafetensorsFile, tensorFloats } from './safetensors';

/** A model made from a catalogue model and an adapter. */
export interface DerivedModel {
  /** Name users give (`semsearch.model`, `--model`); not a Hub repository. */
  id: string;
  /** Catalogue id of the base model. */
  base: string;
  /** File name under `models/adapters/`. */
  adapter: string;
  /** sha256 of the adapter file: a derived folder built from another file is rebuilt. */
  sha256: string;
}

export const DERIVED_MODELS: readonly DerivedModel[] = [
  {
    id: 'semsearch/bge-small-en-v1.5-code',
    base: 'BAAI/bge-small-en-v1.5',
    adapter: 'bge-small-en-v1.5-code.safetensors',
    sha256: 'cf157818f3657cfac2a56662c7c43d67d14a835cdc9c9587ed5235c42d78ef7c',
  },
];

export class AdapterError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'AdapterError';
  }
}

/** Read a safetensors file, with errors naming it. */
function read(file: string): SafetensorsFile {
  try {
    return readSafetensors(file);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new AdapterError(file, e.message);
    throw new AdapterError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** A tensor's values as float32, with errors naming the file. */
function floats(file: string, st: SafetensorsFile, name: string): Float32Array {
  try {
    return tensorFloats(st, name);
  } catch (e) {
    throw new AdapterError(file, (e as Error).message);
  }
}

/**
 * Write `baseFile` with every adapted weight replaced by W + B·A into `outFile`; other tensors,
 * their order and dtypes are kept byte for byte. The header's metadata records the adapter's
 * sha256, so the derived model's fingerprint differs from the base model's. Throws AdapterError
 * (`file: tensor: reason`) when the adapter does not fit the base model.
 */
export function applyAdapter(baseFile: string, adapterFile: string, outFile: string, adapterSha256: string): { adapted: number } {
  const base = read(baseFile);
  const adapter = read(adapterFile);
  const layers = new Set<string>();
  for (const name of adapter.tensors.keys()) {
    const m = /^(.+)\.lora_([AB])$/.exec(name);
    if (!m) throw new AdapterError(adapterFile, `${name}: not a LoRA tensor (<layer>.lora_A / <layer>.lora_B)`);
    layers.add(m[1]);
  }
  if (layers.size === 0) throw new AdapterError(adapterFile, 'holds no LoRA tensors');
  const replaced = new Map<string, Buffer>();
  for (const layer of layers) {
    const weightName = `${layer}.weight`;
    const w = base.tensors.get(weightName);
    if (!w) throw new AdapterError(adapterFile, `${layer}: the base model has no ${weightName}`);
    if (w.dtype !== 'F32' || w.shape.length !== 2)
      throw new AdapterError(adapterFile, `${layer}: the base weight is ${w.dtype} ${JSON.stringify(w.shape)}, expected a float32 matrix`);
    const a = adapter.tensors.get(`${layer}.lora_A`);
    const b = adapter.tensors.get(`${layer}.lora_B`);
    if (!a || !b) throw new AdapterError(adapterFile, `${layer}: needs both lora_A and lora_B`);
    const [out, inp] = w.shape;
    const rank = a.shape[0];
    if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== inp || b.shape[0] !== out || b.shape[1] !== rank) {
      throw new AdapterError(
        adapterFile,
        `${layer}: lora_A ${JSON.stringify(a.shape)} and lora_B ${JSON.stringify(b.shape)} do not fit the weight ${JSON.stringify(w.shape)}`,
      );
    }
    const W = floats(baseFile, base, weightName);
    const A = floats(adapterFile, adapter, `${layer}.lora_A`);
    const B = floats(adapterFile, adapter, `${layer}.lora_B`);
    const merged = new Float32Array(out * inp);
    const row = new Float64Array(inp);
    for (let o = 0; o < out; o++) {
      row.fill(0);
      for (let r = 0; r < rank; r++) {
        const bor = B[o * rank + r];
        if (bor === 0) continue;
        const aRow = r * inp;
        for (let i = 0; i < inp; i++) row[i] += bor * A[aRow + i];
      }
      for (let i = 0; i < inp; i++) merged[o * inp + i] = W[o * inp + i] + row[i];
    }
    replaced.set(weightName, Buffer.from(merged.buffer));
  }

  // Same header with new metadata; tensors keep their offsets (the adapted ones keep their size).
  const data = Buffer.from(base.data);
  for (const [name, bytes] of replaced) bytes.copy(data, base.tensors.get(name)!.data_offsets[0]);
  const tmp = `${outFile}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, encodeSafetensors(base.tensors, { ...base.metadata, semsearch_adapter_sha256: adapterSha256 }, data));
  fs.renameSync(tmp, outFile);
  return { adapted: replaced.size };
}

/** sha256 of a file, hex. */
export function sha256Of(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Files of a model folder other than the weights that the derived folder copies when present. */
const COPIED = [
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.txt',
  'modules.json',
  'sentence_bert_config.json',
  'config_sentence_transformers.json',
  '1_Pooling/config.json',
];

/** The record a derived folder keeps of what it was made from. */
export const DERIVED_RECORD = 'semsearch-adapter.json';

/** True when `dir` holds a complete derived model made with the adapter of sha256 `sha`. */
export function isDerivedFolder(dir: string, sha: string): boolean {
  try {
    const rec = JSON.parse(fs.readFileSync(path.join(dir, DERIVED_RECORD), 'utf8')) as { adapterSha256?: string };
    return rec.adapterSha256 === sha && fs.existsSync(path.join(dir, 'model.safetensors'));
  } catch {
    return false;
  }
}

/**
 * Build the derived model `model` in `outDir` from the base model's folder. The record is written
 * last, so a folder left half-built by a crash is never taken for a complete one.
 */
export function deriveModel(model: DerivedModel, baseDir: string, adapterFile: string, outDir: string): void {
  const sha = sha256Of(adapterFile);
  if (sha !== model.sha256) throw new AdapterError(adapterFile, `sha256 ${sha} is not the expected ${model.sha256}`);
  fs.mkdirSync(outDir, { recursive: true });
  fs.rmSync(path.join(outDir, DERIVED_RECORD), { force: true });
  for (const f of COPIED) {
    const from = path.join(baseDir, f);
    if (!fs.existsSync(from)) continue;
    fs.mkdirSync(path.dirname(path.join(outDir, f)), { recursive: true });
    fs.copyFileSync(from, path.join(outDir, f));
  }
  const { adapted } = applyAdapter(path.join(baseDir, 'model.safetensors'), adapterFile, path.join(outDir, 'model.safetensors'), sha);
  const record = { model: model.id, base: model.base, baseFolder: baseDir, adapter: path.basename(adapterFile), adapterSha256: sha, adaptedLayers: adapted };
  fs.writeFileSync(path.join(outDir, DERIVED_RECORD), JSON.stringify(record, null, 2) + '\n');
}
