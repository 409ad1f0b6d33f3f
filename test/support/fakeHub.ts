/**
 * A local HTTP server that answers the Hugging Face Hub endpoints @huggingface/hub and hub.ts call,
 * the way huggingface.co does:
 *
 *   GET /api/models/{id}/revision/{rev}     model info JSON with `sha` (the commit)
 *   GET /api/models/{id}/tree/{rev}         file list: size, git `oid`, `lfs: {oid: sha256, size}`
 *   GET /{id}/resolve/{rev}/{path}          git files: the bytes, ETag = git sha1, X-Repo-Commit;
 *                                           LFS files: 302 to /cdn/{sha256} with X-Linked-Etag,
 *                                           X-Linked-Size, X-Repo-Commit (as the Hub redirects to its CDN)
 *   GET /cdn/{sha256}                       the bytes; Range requests answered 206 with Content-Range
 *
 * Faults for tests: cut the connection once in the middle of a file, serve wrong bytes, require a
 * token (gated model). Every request is recorded.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export interface FakeFile {
  bytes: Buffer;
  /** Stored with Git LFS (served through the CDN redirect). */
  lfs: boolean;
}

export interface FakeRepo {
  id: string;
  commit: string;
  files: Map<string, FakeFile>;
  /** Answer 401 without `Authorization: Bearer <token>`, 403 with another token. */
  gatedToken?: string;
}

export interface RecordedRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

/** Read a model folder into a fake repository (LFS for the weights and anything over 1 MB). */
export function repoFromFolder(id: string, dir: string, files: readonly string[]): FakeRepo {
  const map = new Map<string, FakeFile>();
  for (const f of files) {
    const bytes = fs.readFileSync(path.join(dir, f));
    map.set(f, { bytes, lfs: f.endsWith('.safetensors') || f.endsWith('.bin') || bytes.length > 1 << 20 });
  }
  return { id, commit: crypto.createHash('sha1').update(id).digest('hex'), files: map };
}

export function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

export function gitSha1(b: Buffer): string {
  return crypto.createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
}

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  /** Cut the connection of the next full transfer of `path` after `afterBytes` bytes of body (once). */
  cutOnce: { path: string; afterBytes: number } | null = null;
  /** Paths served with one byte changed (same size). */
  readonly corrupt = new Set<string>();
  /** Paths whose full transfers wait until released (see hold()). */
  private readonly held = new Map<string, Promise<void>>();
  private readonly repos = new Map<string, FakeRepo>();
  private server: http.Server | null = null;
  url = '';

  add(repo: FakeRepo): this {
    this.repos.set(repo.id, repo);
    return this;
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Hold every full transfer of `path` until the returned function is called. */
  hold(path: string): () => void {
    let release!: () => void;
    this.held.set(path, new Promise<void>((r) => (release = r)));
    return () => {
      this.held.delete(path);
      release();
    };
  }

  /** Requests whose path starts with `prefix`. */
  requestsTo(prefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.url.startsWith(prefix));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({
      method: req.method ?? 'GET',
      url: url.pathname + url.search,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    const p = decodeURIComponent(url.pathname);
    let m: RegExpExecArray | null;
    if ((m = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(p))) return this.revision(req, res, m[1], m[2]);
    if ((m = /^\/api\/models\/(.+)\/tree\/([^/]+)$/.exec(p))) return this.tree(req, res, m[1], m[2]);
    if ((m = /^\/cdn\/([0-9a-f]{64})$/.exec(p))) return this.cdn(req, res, m[1]);
    if ((m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p))) return this.resolve(req, res, m[1], m[2], m[3]);
    this.json(res, 404, { error: 'not found' });
  }

  private json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  /** The repository, or an error answer (404 unknown, 401/403 gated) already sent. */
  private repoFor(req: http.IncomingMessage, res: http.ServerResponse, id: string, rev: string): FakeRepo | undefined {
    const repo = this.repos.get(id);
    if (!repo || (rev !== 'main' && rev !== 'HEAD' && rev !== repo.commit)) {
      this.json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      return undefined;
    }
    if (repo.gatedToken) {
      const auth = req.headers.authorization;
      if (!auth) {
        this.json(
          res,
          401,
          { error: `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.` },
          { 'X-Error-Code': 'GatedRepo' },
        );
        return undefined;
      }
      if (auth !== `Bearer ${repo.gatedToken}`) {
        this.json(res, 403, { error: `Access to model ${id} is restricted and you are not in the authorized list.` }, { 'X-Error-Code': 'GatedRepo' });
        return undefined;
      }
    }
    return repo;
  }

  private revision(req: http.IncomingMessage, res: http.ServerResponse, id: string, rev: string): void {
    const repo = this.repoFor(req, res, id, rev);
    if (!repo) return;
    this.json(res, 200, {
      _id: `fake-${repo.commit.slice(0, 24)}`,
      id: repo.id,
      sha: repo.commit,
      private: false,
      gated: repo.gatedToken ? 'auto' : false,
      downloads: 0,
      likes: 0,
      lastModified: '2024-01-01T00:00:00.000Z',
      pipeline_tag: 'sentence-similarity',
      siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
    });
  }

  private tree(req: http.IncomingMessage, res: http.ServerResponse, id: string, rev: string): void {
    const repo = this.repoFor(req, res, id, rev);
    if (!repo) return;
    const entries: unknown[] = [];
    const dirs = new Set<string>();
    for (const [p, f] of repo.files) {
      for (let d = path.posix.dirname(p); d !== '.'; d = path.posix.dirname(d)) dirs.add(d);
      // LFS entries: `oid` is the git sha1 of the pointer file, `lfs.oid` the sha256 of the content.
      const pointer = Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(f.bytes)}\nsize ${f.bytes.length}\n`);
      entries.push(
        f.lfs
          ? {
              type: 'file',
              oid: gitSha1(pointer),
              size: f.bytes.length,
              lfs: { oid: sha256(f.bytes), size: f.bytes.length, pointerSize: pointer.length },
              path: p,
            }
          : { type: 'file', oid: gitSha1(f.bytes), size: f.bytes.length, path: p },
      );
    }
    for (const d of dirs) entries.push({ type: 'directory', oid: gitSha1(Buffer.from(d)), size: 0, path: d });
    this.json(res, 200, entries);
  }

  private resolve(req: http.IncomingMessage, res: http.ServerResponse, id: string, rev: string, file: string): void {
    const repo = this.repoFor(req, res, id, rev);
    if (!repo) return;
    const f = repo.files.get(file);
    if (!f) return this.json(res, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
    const common = { 'X-Repo-Commit': repo.commit };
    if (f.lfs) {
      const hash = sha256(f.bytes);
      res.writeHead(302, {
        ...common,
        Location: `/cdn/${hash}`,
        'X-Linked-Etag': `"${hash}"`,
        'X-Linked-Size': String(f.bytes.length),
        ETag: `"${gitSha1(f.bytes)}"`,
      });
      res.end();
      return;
    }
    this.send(req, res, file, f.bytes, { ...common, ETag: `"${gitSha1(f.bytes)}"` });
  }

  private cdn(req: http.IncomingMessage, res: http.ServerResponse, hash: string): void {
    for (const repo of this.repos.values()) {
      for (const [p, f] of repo.files) {
        if (f.lfs && sha256(f.bytes) === hash) return this.send(req, res, p, f.bytes, { ETag: `"${hash}"` });
      }
    }
    res.writeHead(404);
    res.end();
  }

  /** The bytes of `file` (whole, or the requested range), with the faults that apply. */
  private send(req: http.IncomingMessage, res: http.ServerResponse, file: string, bytes: Buffer, headers: Record<string, string>): void {
    const held = req.headers.range === 'bytes=0-0' ? undefined : this.held.get(file);
    if (held) {
      void held.then(() => this.send(req, res, file, bytes, headers));
      return;
    }
    if (this.corrupt.has(file)) {
      bytes = Buffer.from(bytes);
      bytes[bytes.length >> 1] ^= 0xff;
    }
    let start = 0;
    let end = bytes.length - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
      if (start >= bytes.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` });
        res.end();
        return;
      }
      status = 206;
      headers = { ...headers, 'Content-Range': `bytes ${start}-${end}/${bytes.length}` };
    }
    const body = bytes.subarray(start, end + 1);
    res.writeHead(status, { ...headers, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) });
    const cut = this.cutOnce;
    if (cut && cut.path === file && body.length > cut.afterBytes) {
      this.cutOnce = null;
      // Send part of the body, then drop the connection as a failing network would.
      res.write(body.subarray(0, cut.afterBytes), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }
}
