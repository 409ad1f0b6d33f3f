/**
 * The safetensors format on the JavaScript side (the addon has its own reader in C++): a
 * little-endian u64 header length, a JSON header naming each tensor's dtype, shape and byte range
 * (plus optional `__metadata__` strings), then the data. One reader for every use here: the
 * model fingerprint (the header's bytes), adapters (whole files), tests.
 */
import * as fs from 'node:fs';

/** Headers larger than this are refused (real ones are kilobytes). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorEntry {
  dtype: string;
  shape: number[];
  /** Byte range in the data section, [start, end). */
  data_offsets: [number, number];
}

/** The header as stored: its JSON bytes, unparsed, and the size of the whole file. */
export interface RawHeader {
  headerBytes: Buffer;
  fileSize: number;
}

export interface SafetensorsFile extends RawHeader {
  /** Tensors in header order. */
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** The bytes after the header. */
  data: Buffer;
}

/** What is wrong with a file that is not safetensors (the caller adds the path). */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

function headerLengthOf(prefix: Buffer, fileSize: number): number {
  if (fileSize < 8) throw new SafetensorsError(`not a safetensors file (${fileSize} bytes, less than the 8-byte header length)`);
  const headerLen = Number(prefix.readBigUInt64LE(0));
  if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > fileSize) {
    throw new SafetensorsError(`not a safetensors file (header length ${headerLen}, file size ${fileSize})`);
  }
  return headerLen;
}

function parseHeader(headerBytes: Buffer, dataLength: number): Pick<SafetensorsFile, 'tensors' | 'metadata'> {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerBytes.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new SafetensorsError(`not a safetensors file (header: ${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw new SafetensorsError('not a safetensors file (the header is not a JSON object)');
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (value ?? {}) as Record<string, string>;
      continue;
    }
    const t = value as Partial<TensorEntry> | null;
    const [start, end] = Array.isArray(t?.data_offsets) ? t.data_offsets : [-1, -1];
    if (!t || typeof t.dtype !== 'string' || !Array.isArray(t.shape) || !(start >= 0 && end >= start && end <= dataLength)) {
      throw new SafetensorsError(`${name}: bad entry in the header`);
    }
    tensors.set(name, t as TensorEntry);
  }
  return { tensors, metadata };
}

/**
 * Read only the header's bytes (8 + header length bytes), checking its length against the file's
 * size; the JSON is not parsed (a fingerprint hashes it; the addon checks it when it loads).
 */
export function readRawHeader(file: string): RawHeader {
  const fd = fs.openSync(file, 'r');
  try {
    const fileSize = fs.fstatSync(fd).size;
    const prefix = Buffer.alloc(8);
    fs.readSync(fd, prefix, 0, 8, 0);
    const headerLen = headerLengthOf(prefix, fileSize);
    const headerBytes = Buffer.alloc(headerLen);
    fs.readSync(fd, headerBytes, 0, headerLen, 8);
    return { headerBytes, fileSize };
  } finally {
    fs.closeSync(fd);
  }
}

/** Read a whole safetensors file. */
export function readSafetensors(file: string): SafetensorsFile {
  const buf = fs.readFileSync(file);
  const headerLen = headerLengthOf(buf, buf.length);
  const data = buf.subarray(8 + headerLen);
  const headerBytes = buf.subarray(8, 8 + headerLen);
  return { ...parseHeader(headerBytes, data.length), headerBytes, fileSize: buf.length, data };
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A tensor's values as float32 (F32 and F16 only). */
export function tensorFloats(st: SafetensorsFile, name: string): Float32Array {
  const t = st.tensors.get(name);
  if (!t) throw new SafetensorsError(`${name}: missing`);
  const n = elementCount(t.shape);
  const bytes = st.data.subarray(t.data_offsets[0], t.data_offsets[1]);
  const width = ({ F32: 4, F16: 2 } as Record<string, number | undefined>)[t.dtype];
  if (width === undefined) throw new SafetensorsError(`${name}: dtype ${t.dtype} is not supported (F32 or F16)`);
  if (bytes.length !== n * width) throw new SafetensorsError(`${name}: ${bytes.length} bytes for ${n} ${t.dtype} values`);
  const out = new Float32Array(n);
  if (t.dtype === 'F32') {
    // Copy the bytes: the tensor's offset in the file need not be 4-byte aligned. (Little-endian
    // hosts only, as safetensors itself: every platform the addon builds for.)
    new Uint8Array(out.buffer).set(bytes);
  } else {
    // Through a table of all 65,536 float16 values: a large table (the static model's 7.5 M
    // values) converts in milliseconds instead of seconds.
    const lut = halfTable();
    const halves = new Uint16Array(n);
    new Uint8Array(halves.buffer).set(bytes);
    for (let i = 0; i < n; i++) out[i] = lut[halves[i]];
  }
  return out;
}

let halfLut: Float32Array | undefined;

/** Every float16 bit pattern's value as float32. */
function halfTable(): Float32Array {
  if (!halfLut) {
    halfLut = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfLut[h] = halfToFloat(h);
  }
  return halfLut;
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * The bytes of a safetensors file: `header` (tensor entries with their offsets into `data`, in the
 * order given, and metadata) padded with spaces so the data stays 8-byte aligned, then `data`.
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, TensorEntry>, metadata: Record<string, string>, data: Buffer): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  for (const [name, t] of tensors) header[name] = t;
  let headerText = JSON.stringify(header);
  headerText += ' '.repeat((8 - (headerText.length % 8)) % 8);
  const headerBuf = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBuf.length));
  return Buffer.concat([len, headerBuf, data]);
}
