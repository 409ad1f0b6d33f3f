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

  private constructor(private readonly tokenizer: Tokenizer, readonly maxTokens: number) {
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

