/**
 * Runs the mocha suite in test/e2e/suite/ inside code-server's real (Node) extension host, the way
 * @vscode/test-electron runs it in desktop VS Code: the workbench URL carries
 * `extensionDevelopmentPath` (the unpacked VSIX) and `extensionTestsPath`; the page exposes
 * `codeAutomationLog` / `codeAutomationExit`, through which the host reports output and exit code.
 */
import * as path from 'node:path';
import { format } from 'node:util';
import { CodeServer, log } from './codeServer';
import { launchBrowser } from './ui';

export interface InHostResult {
  exitCode: number | 'TIMEOUT';
  passed: number;
  failed: number;
  output: string[];
  ms: number;
}

export async function runInHostSuite(opts: {
  server: CodeServer;
  extensionDir: string;
  testsIndex: string;
  workspace: string;
  chromiumPath: string;
  shot: string;
  timeoutMs?: number;
}): Promise<InHostResult> {
  const t0 = Date.now();
  const host = new URL(opts.server.url).host;
  const url = opts.server.workbenchUrl(opts.workspace, [
    ['extensionDevelopmentPath', `vscode-remote://${host}${opts.extensionDir}`],
    ['extensionTestsPath', `vscode-remote://${host}${opts.testsIndex}`],
  ]);
  const browser = await launchBrowser(opts.chromiumPath);
  const output: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    let done!: (code: number) => void;
    const exited = new Promise<number>((r) => (done = r));
    await page.exposeFunction('codeAutomationLog', (_type: string, args: unknown[]) => {
      // The host forwards console.log's arguments (mocha passes format strings).
      for (const line of format(...(args ?? [])).split('\n')) {
        output.push(line);
        process.stderr.write(`  host| ${line}\n`);
      }
    });
    await page.exposeFunction('codeAutomationExit', (code: number) => done(code));
    page.on('pageerror', (e) => log(`[pageerror] ${e.message.slice(0, 200)}`));
    await page.goto(url);
    const timeout = new Promise<'TIMEOUT'>((r) => setTimeout(() => r('TIMEOUT'), opts.timeoutMs ?? 420_000));
    const exitCode = await Promise.race([exited, timeout]);
    await page.screenshot({ path: opts.shot }).catch(() => undefined);
    const summary = output.map((l) => /in-host: (\d+) passed, (\d+) failed/.exec(l)).find(Boolean);
    const passed = summary ? +summary[1] : 0;
    const failed = summary ? +summary[2] : exitCode === 0 ? 0 : 1;
    log(`in-host suite: exit ${exitCode} after ${Date.now() - t0} ms (${path.basename(opts.testsIndex)})`);
    return { exitCode, passed, failed, output, ms: Date.now() - t0 };
  } finally {
    await browser.close();
  }
}
