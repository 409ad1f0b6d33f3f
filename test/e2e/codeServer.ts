/**
 * One code-server (VS Code 1.100.3 served to a browser) per test run: its own user-data, extensions,
 * HOME and TMPDIR under the run folder, started in its own process group and killed as a group
 * (extension hosts otherwise linger at ~0.5 GB each).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export interface CodeServerOptions {
  /** Folder holding node_modules/.bin/code-server (scripts/install-code-server.sh). */
  cacheDir: string;
  /** Run folder: data/, ext/, home/, tmp/ and code-server.log go here. */
  runDir: string;
  /** User settings (merged over the noise-removing defaults). */
  settings?: Record<string, unknown>;
  /** VSIX to install before starting. */
  vsix?: string;
  /** Folder to open. */
  folder: string;
}

/** Settings that remove start-up noise (welcome page, recommendations, telemetry, AI features). */
export const QUIET_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'extensions.ignoreRecommendations': true,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'telemetry.telemetryLevel': 'off',
  'chat.disableAIFeatures': true,
  'git.enabled': false,
  'security.workspace.trust.enabled': false,
  'window.restoreWindows': 'none',
  'workbench.colorTheme': 'Default Dark Modern',
  'editor.hover.delay': 250,
  'editor.minimap.enabled': false,
  'update.mode': 'none',
};

export class CodeServer {
  readonly url: string;
  readonly dataDir: string;
  readonly extDir: string;
  private constructor(
    private readonly proc: ChildProcess,
    readonly port: number,
    private readonly opts: CodeServerOptions,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.dataDir = path.join(opts.runDir, 'data');
    this.extDir = path.join(opts.runDir, 'ext');
  }

  static bin(cacheDir: string): string {
    return path.join(cacheDir, 'node_modules', '.bin', 'code-server');
  }

  /** Return the environment code-server runs with: everything of its own under the run folder. */
  static env(runDir: string): NodeJS.ProcessEnv {
    const home = path.join(runDir, 'home');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_DATA_HOME: path.join(home, '.local', 'share'),
      XDG_CACHE_HOME: path.join(home, '.cache'),
      TMPDIR: path.join(runDir, 'tmp'),
    };
    // Not inherited from a developer's shell: they would change what the extension finds.
    delete env.SEMSEARCH_MODEL;
    delete env.SEMSEARCH_MODELS_DIR;
    delete env.VSCODE_IPC_HOOK_CLI;
    return env;
  }

  static async start(opts: CodeServerOptions): Promise<CodeServer> {
    const { runDir } = opts;
    for (const d of ['data/User', 'ext', 'home', 'tmp']) fs.mkdirSync(path.join(runDir, d), { recursive: true });
    fs.writeFileSync(path.join(runDir, 'data', 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...opts.settings }, null, 2));
    const bin = CodeServer.bin(opts.cacheDir);
    const common = ['--user-data-dir', path.join(runDir, 'data'), '--extensions-dir', path.join(runDir, 'ext')];
    const env = CodeServer.env(runDir);
    if (opts.vsix) {
      const t0 = Date.now();
      const out = execFileSync(bin, [...common, '--install-extension', opts.vsix], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      log(`installed ${path.basename(opts.vsix)} in ${Date.now() - t0} ms: ${out.trim().split('\n').pop()}`);
    }
    const port = await freePort();
    const logFile = fs.openSync(path.join(runDir, 'code-server.log'), 'a');
    const proc = spawn(
      bin,
      [
        ...common,
        '--auth',
        'none',
        '--bind-addr',
        `127.0.0.1:${port}`,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        opts.folder,
      ],
      { env, detached: true, stdio: ['ignore', logFile, logFile] },
    );
    const server = new CodeServer(proc, port, opts);
    const t0 = Date.now();
    while (Date.now() - t0 < 60_000) {
      if (proc.exitCode !== null) throw new Error(`code-server exited with ${proc.exitCode}; see ${path.join(runDir, 'code-server.log')}`);
      try {
        const r = await fetch(`${server.url}/healthz`);
        if (r.ok) {
          log(`code-server on ${server.url} after ${Date.now() - t0} ms`);
          return server;
        }
      } catch {
        /* not listening yet */
      }
      await sleep(200);
    }
    server.stop();
    throw new Error('code-server did not answer within 60 s');
  }

  /** Return the workbench URL for the folder, with an optional `payload` (development mode). */
  workbenchUrl(folder = this.opts.folder, payload?: [string, string][]): string {
    let u = `${this.url}/?folder=${encodeURIComponent(folder)}`;
    if (payload) u += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    return u;
  }

  /** Return the files of the extension host's logs whose name contains `name`. */
  logFiles(name: string): string[] {
    const out: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.includes(name)) out.push(p);
      }
    };
    walk(path.join(this.dataDir, 'logs'));
    return out;
  }

  /** Kill code-server and every process it started (extension hosts, the sidecar). */
  stop(): void {
    if (this.proc.pid === undefined) return;
    for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
      try {
        process.kill(-this.proc.pid, sig);
      } catch {
        return; // group gone
      }
      if (sig === 'SIGTERM') execFileSync('sleep', ['0.5']);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function log(msg: string): void {
  process.stderr.write(`e2e: ${msg}\n`);
}
