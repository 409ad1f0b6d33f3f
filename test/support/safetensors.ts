/** safetensors files for tests: read one, change its tensors, write it back (or build one). */
import * as fs from 'node:fs';
import { encodeSafetensors, readSafetensors as readFile, TensorEntry } from '../../server/model/safetensors';

export type Dtype = 'F32' | 'F16' | 'BF16' | 'I64';

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: Buffer;
}

const BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, I64: 8 };

/** Return the tensors of a safetensors file, in header order. */
export function readSafetensors(file: string): Record<string, Tensor> {
  const st = readFile(file);
  const out: Record<string, Tensor> = {};
  for (const [name, t] of st.tensors)
    out[name] = { dtype: t.dtype as Dtype, shape: t.shape, data: Buffer.from(st.data.subarray(t.data_offsets[0], t.data_offsets[1])) };
  return out;
}

/** Write tensors as a safetensors file: a little-endian u64 header length, the JSON header, the data. */
export function writeSafetensors(file: string, tensors: Record<string, Tensor>): void {
  const entries = new Map<string, TensorEntry>();
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count * BYTES[t.dtype]) throw new Error(`${name}: ${t.data.length} bytes for ${t.dtype} [${t.shape.join(',')}]`);
    entries.set(name, { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] });
    offset += t.data.length;
  }
  fs.writeFileSync(file, encodeSafetensors(entries, { format: 'pt' }, Buffer.concat(Object.values(tensors).map((t) => t.data))));
}

/** A float32 tensor of `shape` whose values come from `value(i)`. */
export function f32(shape: number[], value: (i: number) => number): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  const data = Buffer.alloc(count * 4);
  for (let i = 0; i < count; i++) data.writeFloatLE(value(i), i * 4);
  return { dtype: 'F32', shape, data };
}
