/**
 * A model's tokenizer (its `tokenizer.json`, through @huggingface/tokenizers), with truncation
 * that keeps the special tokens, as Hugging Face does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelError } from './folder';

/** The part of @huggingface/tokenizers' Tokenizer used here. */
interface Tokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
}
// The package is ESM-first but ships a CommonJS build under `exports.node.require`; the sidecar is
// CommonJS (it loads in VS Code's extension host runtime), so it is required, typed as used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
const { Tokenizer } = require('@huggingface/tokenizers') as { Tokenizer: new (json: object, config: object) => Tokenizer };

/** Tokenizer of one model, with truncation that keeps the special tokens (as Hugging Face does). */
export class TextTokenizer {
  private readonly prefix: number[];
  private readonly suffix: number[];

  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly maxTokens: number,
  ) {
    // Learn the special tokens the post-processor wraps around one sequence ([CLS] … [SEP] for
    // BERT) by encoding a probe with and without them.
    const probe = 'a';
    const bare = tokenizer.encode(probe, { add_special_tokens: false }).ids;
    const full = tokenizer.encode(probe, { add_special_tokens: true }).ids;
    const at = indexOfRun(full, bare);
    if (at < 0) throw new Error('tokenizer: cannot locate the input inside its special tokens');
    this.prefix = full.slice(0, at);
    this.suffix = full.slice(at + bare.length);
  }

  static fromFile(file: string, maxTokens: number): TextTokenizer {
    let json: object;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8')) as object;
    } catch (e) {
      throw new ModelError(path.dirname(file), `cannot read tokenizer.json (${(e as Error).message})`);
    }
    const cfgFile = path.join(path.dirname(file), 'tokenizer_config.json');
    try {
      if (fs.existsSync(cfgFile) && !fs.statSync(cfgFile).isFile()) throw new Error('tokenizer_config.json is not a regular file');
      const cfg = fs.existsSync(cfgFile) ? (JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as object) : {};
      return new TextTokenizer(new Tokenizer(json, cfg), maxTokens);
    } catch (e) {
      throw new ModelError(path.dirname(file), `tokenizer.json or tokenizer_config.json is not a usable tokenizer (${(e as Error).message})`);
    }
  }

  /** Token ids with special tokens, truncated to `maxTokens` (content is cut, specials are kept). */
  encode(text: string): number[] {
    const room = this.maxTokens - this.prefix.length - this.suffix.length;
    // Long inputs: tokenizing megabytes to keep a few hundred tokens is wasted work. Encode a prefix
    // first; when it already yields comfortably more than `room` tokens, the first `room` are the
    // same as those of the whole text (the cut can only disturb the last word), else encode it all.
    const cap = room * 32;
    let ids = this.tokenizer.encode(text.length > cap ? text.slice(0, cap) : text, { add_special_tokens: false }).ids;
    if (text.length > cap && ids.length < room + 16) ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    return [...this.prefix, ...(ids.length > room ? ids.slice(0, room) : ids), ...this.suffix];
  }

  /** Number of tokens `text` takes, special tokens included, before truncation. */
  count(text: string): number {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids.length + this.prefix.length + this.suffix.length;
  }
}

function indexOfRun(haystack: number[], needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Token ids of many texts at once, without special tokens, off the JavaScript thread where it can be. */
export interface BatchTokenizer {
  /** `native`: the Hugging Face `tokenizers` binding (Rust, on libuv's threads); `js`: @huggingface/tokenizers. */
  readonly engine: 'native' | 'js';
  encodeBatch(texts: readonly string[]): Promise<number[][]>;
}

/** The part of the `tokenizers` binding's API used here. */
interface NativeTokenizerModule {
  Tokenizer: {
    fromFile(file: string): {
      encodeBatch(texts: string[], options: { addSpecialTokens: boolean }): Promise<{ getIds(): number[] }[]>;
    };
  };
}

let nativeModule: NativeTokenizerModule | null | undefined;

/** The `tokenizers` binding, or null where its binary does not load (an unsupported platform). */
function nativeTokenizers(): NativeTokenizerModule | null {
  if (nativeModule === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional: a platform binary that may not load
      nativeModule = require('tokenizers') as NativeTokenizerModule;
    } catch {
      nativeModule = null;
    }
  }
  return nativeModule;
}

/**
 * A BatchTokenizer for `file` (a tokenizer.json): the native binding unless `engine` asks for the
 * JavaScript one or the binding's binary does not load. Both give the same ids (a test checks it on
 * the parity fixtures); the binding is about twice as fast and leaves the event loop free.
 */
export function loadBatchTokenizer(file: string, engine: 'native' | 'js' | 'auto' = 'auto'): BatchTokenizer {
  const native = engine === 'js' ? null : nativeTokenizers();
  if (engine === 'native' && !native) throw new ModelError(path.dirname(file), 'the tokenizers binding does not load on this platform');
  if (native) {
    let tok: ReturnType<NativeTokenizerModule['Tokenizer']['fromFile']>;
    try {
      tok = native.Tokenizer.fromFile(file);
    } catch (e) {
      throw new ModelError(path.dirname(file), `${path.basename(file)} is not a usable tokenizer (${(e as Error).message})`, { cause: e });
    }
    return {
      engine: 'native',
      encodeBatch: async (texts) => (texts.length === 0 ? [] : (await tok.encodeBatch([...texts], { addSpecialTokens: false })).map((e) => e.getIds())),
    };
  }
  let json: object;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as object;
  } catch (e) {
    throw new ModelError(path.dirname(file), `cannot read ${path.basename(file)} (${(e as Error).message})`, { cause: e });
  }
  const tok = new Tokenizer(json, {});
  return {
    engine: 'js',
    encodeBatch: (texts) => Promise.resolve(texts.map((t) => tok.encode(t, { add_special_tokens: false }).ids)),
  };
}
