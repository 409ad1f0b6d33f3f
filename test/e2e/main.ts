/**
 * End-to-end tests of the packaged extension in a real VS Code. Three phases:
 *   ui        code-server with the VSIX installed, driven through Chromium (test/e2e/ui.ts);
 *   inhost    the mocha suite in test/e2e/suite/ inside code-server's extension host, with the
 *             unpacked VSIX loaded in development mode (test/e2e/inHost.ts);
 *   electron  the same suite through @vscode/test-electron, where a desktop VS Code (`code`) is on
 *             PATH; skipped, saying why, where none is.
 * Ends with one line "N passed, N failed" (and exit code 1 on any failure).
 *
 * Usage: node out/test/e2e/main.js --vsix FILE --cache DIR [--only ui,inhost,electron] [--keep]
 *   --cache   folder of scripts/install-code-server.sh; --keep leaves the run folders in place.
 * Env: SEMSEARCH_TEST_MODEL (model folder; default .models/all-MiniLM-L6-v2), CHROMIUM (binary).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CodeServer, log } from './codeServer';
import { runInHostSuite } from './inHost';
import { runUiTests, StepResult } from './ui';

const REPO = path.resolve(__dirname, '..', '..', '..');
const FIXTURE = path.join(REPO, 'test', 'fixtures', 'e2e-workspace');
const SHOTS = path.join(REPO, 'test-output', 'e2e');
const MODEL = process.env.SEMSEARCH_TEST_MODEL ?? path.join(REPO, '.models', 'all-MiniLM-L6-v2');
const TESTS_INDEX = path.join(REPO, 'out', 'test', 'e2e', 'suite', 'index.js');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Copy the fixture workspace to a fresh folder outside the repository (no parent .gitignore). */
function workspaceCopy(runDir: string): string {
  const ws = path.join(runDir, 'e2e-workspace');
  fs.cpSync(FIXTURE, ws, { recursive: true });
  return ws;
}

function activationFromLog(server: CodeServer): { totalMs: number; line: string } | undefined {
  for (const f of server.logFiles('Semantic Search')) {
    const m = /activated in ([\d.]+) ms.*/.exec(fs.readFileSync(f, 'utf8'));
    if (m) return { totalMs: +m[1], line: m[0] };
  }
  return undefined;
}

function saveLogs(server: CodeServer, name: string): void {
  const files = server.logFiles('Semantic Search');
  const text = files.map((f) => `==> ${path.relative(server.dataDir, f)}\n${fs.readFileSync(f, 'utf8')}`).join('\n');
  fs.writeFileSync(path.join(SHOTS, `${name}.log`), text);
}

async function main(): Promise<number> {
  const vsix = arg('vsix');
  const cacheDir = arg('cache');
  const only = new Set((arg('only') ?? 'ui,inhost,electron').split(','));
  const keep = process.argv.includes('--keep');
  if (!vsix || !fs.existsSync(vsix)) throw new Error(`--vsix: no such file: ${vsix}`);
  if (!cacheDir || !fs.existsSync(CodeServer.bin(cacheDir))) throw new Error(`--cache: no code-server in ${cacheDir} (run scripts/install-code-server.sh)`);
  if (!fs.existsSync(path.join(MODEL, 'model.safetensors'))) throw new Error(`no test model in ${MODEL} (run scripts/setup.sh)`);
  const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!fs.existsSync(chromiumPath)) throw new Error(`no chromium at ${chromiumPath}`);
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  const settings = { 'semsearch.model': MODEL };
  const all: StepResult[] = [];
  const timings: Record<string, number | string> = { vsixBytes: fs.statSync(vsix).size };
  const runRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'semsearch-e2e-'));
  log(`run folder ${runRoot}; screenshots in ${path.relative(REPO, SHOTS)}/`);

  try {
    if (only.has('ui')) {
      const runDir = path.join(runRoot, 'ui');
      fs.mkdirSync(runDir, { recursive: true });
      const ws = workspaceCopy(runDir);
      const server = await CodeServer.start({ cacheDir, runDir, vsix, folder: ws, settings });
      try {
        const ui = await runUiTests({ server, workspace: ws, shotsDir: SHOTS, chromiumPath });
        all.push(...ui.results);
        Object.assign(timings, ui.timings);
        const act = activationFromLog(server);
        const t0 = Date.now();
        const ok = act !== undefined && act.totalMs < 50;
        all.push({
          name: 'activation adds < 50 ms to the extension host',
          ok,
          ms: Date.now() - t0,
          error: act ? act.line : 'no "activated in" line in the output channel log',
        });
        log(`${ok ? 'PASS' : 'FAIL'} activation: ${act?.line ?? 'not found'}`);
        if (act) timings.activationMs = act.totalMs;
      } finally {
        saveLogs(server, 'ui-output-channel');
        server.stop();
      }
    }

    if (only.has('inhost')) {
      const runDir = path.join(runRoot, 'inhost');
      fs.mkdirSync(runDir, { recursive: true });
      const ws = workspaceCopy(runDir);
      const unpacked = path.join(runDir, 'unpacked');
      execFileSync('unzip', ['-q', vsix, '-d', unpacked]);
      const server = await CodeServer.start({ cacheDir, runDir, folder: ws, settings });
      try {
        const r = await runInHostSuite({
          server,
          extensionDir: path.join(unpacked, 'extension'),
          testsIndex: TESTS_INDEX,
          workspace: ws,
          chromiumPath,
          shot: path.join(SHOTS, 'in-host.png'),
        });
        timings.inHostMs = r.ms;
        // Mocha's spec lines up to its summary ("N passing"); the failure details after it repeat titles.
        const end = r.output.findIndex((l) => /^\s*\d+ passing/.test(l));
        for (const line of end >= 0 ? r.output.slice(0, end) : r.output) {
          const m = /^\s*(✔|✓|\d+\))\s+(.*?)(?: \((\d+)ms\))?$/.exec(line);
          if (m) all.push({ name: `in-host: ${m[2]}`, ok: m[1] === '✔' || m[1] === '✓', ms: m[3] ? +m[3] : 0 });
        }
        const counted = all.filter((s) => s.name.startsWith('in-host: '));
        if (counted.length !== r.passed + r.failed || r.exitCode === 'TIMEOUT') {
          // Could not read each test: count the suite by its summary line.
          for (let i = counted.length; i < r.passed + r.failed; i++) all.push({ name: `in-host test ${i + 1}`, ok: i < r.passed, ms: 0 });
          if (r.exitCode === 'TIMEOUT') all.push({ name: 'in-host suite finished', ok: false, ms: r.ms, error: 'timeout' });
        }
      } finally {
        saveLogs(server, 'inhost-output-channel');
        server.stop();
      }
    }

    if (only.has('electron')) {
      const code = spawnSync('sh', ['-c', 'command -v code'], { encoding: 'utf8' }).stdout.trim();
      if (!code) {
        log(
          'SKIP @vscode/test-electron: no VS Code executable (`code`) on PATH, and test-electron cannot download one offline; the same suite ran in code-server above',
        );
      } else {
        const { runTests } = await import('@vscode/test-electron');
        const runDir = path.join(runRoot, 'electron');
        fs.mkdirSync(runDir, { recursive: true });
        const ws = workspaceCopy(runDir);
        const unpacked = path.join(runDir, 'unpacked');
        execFileSync('unzip', ['-q', vsix, '-d', unpacked]);
        fs.mkdirSync(path.join(runDir, 'data', 'User'), { recursive: true });
        fs.writeFileSync(path.join(runDir, 'data', 'User', 'settings.json'), JSON.stringify(settings));
        const t0 = Date.now();
        let ok = true;
        let error: string | undefined;
        try {
          await runTests({
            vscodeExecutablePath: code,
            extensionDevelopmentPath: path.join(unpacked, 'extension'),
            extensionTestsPath: TESTS_INDEX,
            launchArgs: [ws, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', path.join(runDir, 'data')],
          });
        } catch (e) {
          ok = false;
          error = String(e);
        }
        all.push({ name: 'in-host suite through @vscode/test-electron', ok, ms: Date.now() - t0, error });
      }
    }
  } finally {
    if (!keep) fs.rmSync(runRoot, { recursive: true, force: true });
  }

  const passed = all.filter((s) => s.ok).length;
  const failed = all.length - passed;
  process.stdout.write('\nE2E results\n');
  for (const s of all)
    process.stdout.write(
      `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.name}${s.ms ? ` (${s.ms} ms)` : ''}${!s.ok && s.error ? `\n         ${s.error.replace(/\n/g, '\n         ')}` : ''}\n`,
    );
  process.stdout.write(`timings: ${JSON.stringify(timings)}\n`);
  process.stdout.write(
    `screenshots: ${fs
      .readdirSync(SHOTS)
      .filter((f) => f.endsWith('.png'))
      .map((f) => path.join('test-output/e2e', f))
      .join(', ')}\n`,
  );
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  return failed === 0 && all.length > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`e2e: error: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.stdout.write('\n0 passed, 1 failed\n');
    process.exit(2);
  },
);
