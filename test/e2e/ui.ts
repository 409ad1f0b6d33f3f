/**
 * UI tests in a real VS Code (code-server + headless Chromium): the packaged extension installed
 * from its VSIX, a fixture workspace, and the user's path through the features: wait for the index,
 * search from F1, open a result, hover → "Find similar code" (one picker, its results sent to the
 * Results view), the Search Workspace keybinding, reindex, the Index Status view. Screenshots go
 * to test-output/e2e/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, Browser, Page } from 'playwright-core';
import { CodeServer, log, sleep } from './codeServer';

export interface StepResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

export interface UiOptions {
  server: CodeServer;
  workspace: string;
  shotsDir: string;
  chromiumPath: string;
}

const INDEX_TIMEOUT_MS = +(process.env.SEMSEARCH_E2E_INDEX_TIMEOUT_MS ?? 240_000);
const STATUS_SELECTOR = '[id="workbench.parts.statusbar"] [aria-label^="Semantic Search:"]';
const QUICK_INPUT = '.quick-input-widget';
const QUICK_ROWS = '.quick-input-widget .quick-input-list .monaco-list-row';
/** What the page functions below read of a DOM element (the tests compile without the DOM library). */
type Row = { getAttribute(name: string): string | null; textContent: string | null };

export async function launchBrowser(chromiumPath: string): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

class Steps {
  readonly results: StepResult[] = [];
  constructor(
    private readonly page: Page,
    private readonly shotsDir: string,
  ) {}

  async run(name: string, fn: () => Promise<void>): Promise<boolean> {
    const t0 = Date.now();
    try {
      await fn();
      const ms = Date.now() - t0;
      this.results.push({ name, ok: true, ms });
      log(`PASS ${name} (${ms} ms)`);
      return true;
    } catch (e) {
      const ms = Date.now() - t0;
      const error = e instanceof Error ? e.message.split('\n').slice(0, 6).join('\n') : String(e);
      this.results.push({ name, ok: false, ms, error });
      log(`FAIL ${name} (${ms} ms): ${error}`);
      await this.page.screenshot({ path: path.join(this.shotsDir, `fail-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`) }).catch(() => undefined);
      return false;
    }
  }
}

/** An error that ends a waitFor at once instead of being retried. */
class Fatal extends Error {}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>, everyMs = 250): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      last = e;
    }
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`);
    await sleep(everyMs);
  }
}

/** Return the aria-labels of the quick input rows now shown. */
async function quickRows(page: Page): Promise<string[]> {
  return page.locator(QUICK_ROWS).evaluateAll((els: Row[]) => els.map((e) => e.getAttribute('aria-label') ?? ''));
}

async function closeQuickInput(page: Page): Promise<void> {
  for (let i = 0; i < 5 && (await page.locator(QUICK_INPUT).isVisible()); i++) {
    await page.keyboard.press('Escape');
    await sleep(200);
  }
}

/**
 * F1 → the command's title → Enter, retried until `done` holds (the extension may still be
 * activating). The title is filled into the palette's own input box, never typed blindly: a key
 * press that races a closing picker would land in the editor.
 */
async function runCommand(page: Page, title: string, done: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await waitFor(
    `command "${title}"`,
    timeoutMs,
    async () => {
      await closeQuickInput(page);
      await page.keyboard.press('F1');
      await input.waitFor({ state: 'visible', timeout: 5_000 });
      await waitFor('the command palette', 3_000, async () => ((await input.inputValue()).startsWith('>') ? true : undefined));
      await input.fill(`>${title}`);
      await waitFor('command row', 5_000, async () => (await quickRows(page)).some((l) => l.includes(title)));
      await input.press('Enter');
      return waitFor(`effect of "${title}"`, 5_000, async () => (await done()) || undefined).then(() => true);
    },
    500,
  );
}

async function statusText(page: Page): Promise<string> {
  return (await page.locator(STATUS_SELECTOR).first().getAttribute('aria-label', { timeout: 2_000 })) ?? '';
}

/** Return the 1-based line of the first line of `file` matching `re`. */
function lineOf(file: string, re: RegExp): number {
  const i = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .findIndex((l) => re.test(l));
  if (i < 0) throw new Error(`${file}: no line matches ${re}`);
  return i + 1;
}

export interface UiReport {
  results: StepResult[];
  timings: Record<string, number>;
}

export async function runUiTests(opts: UiOptions): Promise<UiReport> {
  const { server, workspace, shotsDir } = opts;
  const timings: Record<string, number> = {};
  const browser = await launchBrowser(opts.chromiumPath);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => log(`[pageerror] ${e.message.slice(0, 200)}`));
  const steps = new Steps(page, shotsDir);
  const geo = path.join(workspace, 'src', 'geo.ts');
  const haversineLine = lineOf(geo, /export function haversineDistance/);

  try {
    await steps.run('workbench opens the fixture workspace', async () => {
      const t0 = Date.now();
      await page.goto(server.workbenchUrl(workspace));
      await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
      await page.locator('[id="workbench.parts.statusbar"]').waitFor({ timeout: 60_000 });
      timings.workbenchMs = Date.now() - t0;
    });

    await steps.run('status bar shows the index ready', async () => {
      const t0 = Date.now();
      let seen = '';
      const label = await waitFor(
        'the index to be ready (status bar)',
        INDEX_TIMEOUT_MS,
        async () => {
          const t = await statusText(page).catch(() => '');
          if (t && t !== seen) {
            log(`status bar: ${t}`);
            seen = t;
          }
          return /\d+ files · \d+ chunks$/.test(t) ? t : undefined;
        },
        500,
      );
      timings.indexReadyMs = Date.now() - t0;
      await page.screenshot({ path: path.join(shotsDir, 'status-bar.png') });
      if (!/^Semantic Search: [1-9]\d* files · [1-9]\d* chunks$/.test(label)) throw new Error(`unexpected status: ${label}`);
    });

    let pickedLine = 0;
    await steps.run('Search Workspace from F1 finds haversineDistance', async () => {
      await runCommand(
        page,
        'Semantic Search: Search Workspace',
        async () =>
          (
            await page
              .locator('.quick-input-widget .quick-input-title')
              .textContent({ timeout: 1_000 })
              .catch(() => '')
          )?.includes('Semantic Search (') ?? false,
      );
      const placeholder = await page.locator('.quick-input-widget .quick-input-box input').getAttribute('placeholder');
      if (!placeholder?.includes('lang:') || !placeholder.includes('path:')) throw new Error(`placeholder does not explain filters: ${placeholder}`);
      const t0 = Date.now();
      // Typed key by key (debounce and cancellation at work), into the picker's focused input.
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await input.focus();
      await input.pressSequentially('distance between two points on the earth', { delay: 25 });
      const rows = await waitFor(
        'search results',
        30_000,
        async () => {
          const r = await quickRows(page);
          return r.some((l) => l.includes('haversineDistance')) ? r : undefined;
        },
        100,
      );
      timings.searchResultsMs = Date.now() - t0;
      log(`search rows: ${rows.slice(0, 5).join(' | ')}`);
      await page.screenshot({ path: path.join(shotsDir, 'search-picker.png') });
      // The mode button cycles hybrid → semantic and searches again.
      await page.locator('.quick-input-widget .quick-input-titlebar [aria-label^="Mode: hybrid"]').first().click();
      await waitFor('semantic mode results', 15_000, async () => {
        const title = await page.locator('.quick-input-widget .quick-input-title').textContent();
        return title?.startsWith('Semantic Search (semantic) ·') && (await quickRows(page)).some((l) => l.includes('haversineDistance')) ? true : undefined;
      });
      await page.locator('.quick-input-widget .quick-input-titlebar [aria-label^="Mode: semantic"]').first().click();
      await page.locator('.quick-input-widget .quick-input-titlebar [aria-label^="Mode: keyword"]').first().click();
      await waitFor('hybrid mode results', 15_000, async () => {
        const title = await page.locator('.quick-input-widget .quick-input-title').textContent();
        return title?.startsWith('Semantic Search (hybrid) ·') && (await quickRows(page)).some((l) => l.includes('haversineDistance')) ? true : undefined;
      });
      await page.locator('.quick-input-widget .quick-input-box input').focus();
      rows.splice(0, rows.length, ...(await quickRows(page)));
      const idx = rows.findIndex((l) => l.includes('haversineDistance'));
      if (idx > 4) throw new Error(`haversineDistance ranked ${idx + 1}`);
      const m = /src\/geo\.ts:(\d+)/.exec(rows[idx]);
      if (!m) throw new Error(`row has no path:line: ${rows[idx]}`);
      pickedLine = +m[1];
      for (let i = 0; i < idx; i++) await page.keyboard.press('ArrowDown');
      await sleep(300);
      // Moving through the items previews them (preview tab, focus stays in the picker).
      await waitFor('the preview of geo.ts', 10_000, async () =>
        (
          (await page
            .locator('.tabs-container .tab.active')
            .getAttribute('aria-label')
            .catch(() => '')) ?? ''
        ).includes('geo.ts'),
      );
      if (!(await page.locator(QUICK_INPUT).isVisible())) throw new Error('the picker closed while previewing');
      await page.keyboard.press('Enter');
    });

    await steps.run('Enter opens geo.ts at the hit', async () => {
      await waitFor('the picker to close', 5_000, async () => !(await page.locator(QUICK_INPUT).isVisible()));
      const tab = await waitFor('geo.ts active', 10_000, async () => {
        const l = await page.locator('.tabs-container .tab.active').getAttribute('aria-label');
        return l?.includes('geo.ts') ? l : undefined;
      });
      const sel = await waitFor('cursor position', 10_000, async () => {
        const t = (await page.locator('[id="status.editor.selection"]').textContent())?.trim();
        return t && /Ln \d+/.test(t) ? t : undefined;
      });
      const ln = +(/Ln (\d+)/.exec(sel)?.[1] ?? 0);
      log(`tab "${tab}", ${sel}; hit line ${pickedLine}, function at line ${haversineLine}`);
      if (ln !== pickedLine) throw new Error(`cursor on line ${ln}, the hit starts on line ${pickedLine}`);
      if (pickedLine > haversineLine || pickedLine < haversineLine - 3)
        throw new Error(`hit line ${pickedLine} is not at the function (line ${haversineLine})`);
      const visible = await page.locator('.monaco-editor .view-lines').first().textContent();
      if (!visible?.includes('haversineDistance')) throw new Error('the function is not visible in the editor');
    });

    await steps.run('hover offers "Find similar code"', async () => {
      const word = page.locator('.monaco-editor .view-lines .view-line span span', { hasText: /^haversineDistance$/ }).first();
      await word.waitFor({ timeout: 10_000 });
      const hover = page.locator('.monaco-hover', { hasText: 'Find similar code' }).filter({ hasText: 'haversineDistance' });
      await waitFor(
        'the hover',
        30_000,
        async () => {
          const box = await word.boundingBox();
          if (!box) return undefined;
          // Move in steps: monaco opens hovers on mouse movement, not on a jump.
          await page.mouse.move(box.x + box.width / 2 - 20, box.y + box.height / 2 + 40);
          await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 5 });
          return hover
            .isVisible({ timeout: 3_000 })
            .then((v) => v || undefined)
            .catch(() => undefined);
        },
        500,
      );
      await sleep(300);
      await page.screenshot({ path: path.join(shotsDir, 'hover.png') });
    });

    await steps.run('"Find similar code" lists great_circle_km', async () => {
      const t0 = Date.now();
      await page.locator('.monaco-hover a', { hasText: 'Find similar code' }).first().click();
      const rows = await waitFor(
        'similar results',
        30_000,
        async () => {
          const title = await page
            .locator('.quick-input-widget .quick-input-title')
            .textContent({ timeout: 1_000 })
            .catch(() => '');
          if (!title?.includes('Similar to haversineDistance')) return undefined;
          const r = await quickRows(page);
          return r.length ? r : undefined;
        },
        200,
      );
      timings.findSimilarMs = Date.now() - t0;
      log(`similar rows: ${rows.slice(0, 5).join(' | ')}`);
      await sleep(300);
      await page.screenshot({ path: path.join(shotsDir, 'similar.png') });
      const idx = rows.findIndex((l) => l.includes('great_circle_km'));
      if (idx < 0 || idx > 2) throw new Error(`great_circle_km not in the top 3: ${rows.slice(0, 5).join(' | ')}`);
      // One picker only; its title button sends the results to the Results view.
      await page.locator('.quick-input-widget .quick-input-titlebar [aria-label^="Show Results in the Results View"]').first().click();
      await waitFor('the picker to close', 5_000, async () => !(await page.locator(QUICK_INPUT).isVisible()));
      const viewRows = page.locator('.pane-body .monaco-list-row');
      await waitFor('great_circle_km in the results view', 5_000, async () => {
        const labels = await viewRows.evaluateAll((els: Row[]) => els.map((e) => e.getAttribute('aria-label') ?? e.textContent ?? ''));
        return labels.some((l) => l.includes('great_circle_km')) || undefined;
      }).catch(async (e: Error) => {
        const labels = await viewRows.evaluateAll((els: Row[]) => els.map((x) => `${x.getAttribute('aria-label') ?? ''} / ${x.textContent ?? ''}`));
        throw new Error(`${e.message}; view rows: ${labels.join(' | ').slice(0, 500)}`);
      });
      await closeQuickInput(page);
      await page.screenshot({ path: path.join(shotsDir, 'results-view.png') });
    });

    await steps.run('clicking a row of the results view opens its location', async () => {
      const row = page.locator('.pane-body .monaco-list-row[aria-label*="great_circle_km"]').first();
      const label = (await row.getAttribute('aria-label')) ?? '';
      const line = +(/line (\d+)/.exec(label)?.[1] ?? 0);
      await row.click();
      await waitFor('distance.py at the hit', 10_000, async () => {
        const tab = (await page.locator('.tabs-container .tab.active').getAttribute('aria-label')) ?? '';
        const sel = (await page.locator('[id="status.editor.selection"]').textContent())?.trim() ?? '';
        return tab.includes('distance.py') && sel.startsWith(`Ln ${line},`) ? true : undefined;
      });
    });

    await steps.run('Ctrl+Shift+Alt+F opens Search Workspace', async () => {
      await closeQuickInput(page);
      await page.locator('.monaco-editor .view-lines').first().click();
      await page.keyboard.press('Control+Shift+Alt+KeyF');
      await waitFor('the search picker', 10_000, async () =>
        (
          await page
            .locator('.quick-input-widget .quick-input-title')
            .textContent({ timeout: 1_000 })
            .catch(() => '')
        )?.startsWith('Semantic Search ('),
      );
      await closeQuickInput(page);
    });

    // Reindex (reconcile) and Rebuild (full): a progress notification that ends in a summary.
    const reindexStep = async (title: string, done: RegExp, timingKey: string, shot: string): Promise<void> => {
      const t0 = Date.now();
      await runCommand(
        page,
        title,
        async () =>
          (await page.locator('.notification-toast', { hasText: 'Semantic Search: re' }).count()) > 0 ||
          (await alertText(page)).includes('Semantic Search: re'),
      );
      await sleep(300);
      await page.screenshot({ path: path.join(shotsDir, `${shot}.png`) });
      const summary = await waitFor(
        'the reindex to finish',
        INDEX_TIMEOUT_MS,
        async () => {
          const toasts = await page.locator('.notification-toast .notification-list-item-message').allTextContents();
          const text = toasts.join(' | ') + ' | ' + (await alertText(page));
          const failed = /Semantic Search: (?!reindex|rebuil)[^|]*(failed|error|SQLITE)[^|]*/i.exec(text);
          if (failed) throw new Fatal(failed[0]);
          return done.exec(text)?.[0];
        },
        300,
      );
      timings[timingKey] = Date.now() - t0;
      log(`${title}: ${summary}`);
      await waitFor(
        'the progress notification to go',
        10_000,
        async () => (await page.locator('.notification-toast', { hasText: /Semantic Search: (reindexing|rebuilding)/ }).count()) === 0,
      );
      await page.screenshot({ path: path.join(shotsDir, `${shot}-done.png`) });
      if (/ 0 files checked/.test(summary)) throw new Error(summary);
    };
    await steps.run('Reindex Workspace shows progress and finishes', () =>
      reindexStep('Semantic Search: Reindex Workspace', /reindexed: \d+ files checked, \d+ chunks indexed[^|]*? in [\d.]+ s/, 'reindexMs', 'reindex'),
    );
    await steps.run('Rebuild Index from Scratch shows progress and finishes', () =>
      reindexStep(
        'Semantic Search: Rebuild Index from Scratch',
        /rebuilt the index: \d+ files checked, [1-9]\d* chunks indexed[^|]*? in [\d.]+ s/,
        'rebuildMs',
        'rebuild',
      ),
    );

    await steps.run('Show Index Status reveals the Index Status view', async () => {
      const health = page.locator('.pane-body .monaco-list-row[aria-label^="Health: "]');
      await runCommand(page, 'Semantic Search: Show Index Status', async () => (await health.count()) > 0);
      const label = await waitFor('the health row', 10_000, async () => (await health.first().getAttribute('aria-label')) ?? undefined);
      const rows = await page
        .locator('.pane-body .monaco-list-row')
        .evaluateAll((els: Row[]) => els.map((e) => e.getAttribute('aria-label') ?? '').filter((l) => /^(Health|Index|Fast tier|Deep tier)/.test(l)));
      log(`index status: ${rows.join(' | ')}`);
      await page.screenshot({ path: path.join(shotsDir, 'status.png') });
      if (!label.startsWith('Health: ok')) throw new Error(`status: ${label}`);
      if (!rows.some((l) => /^Deep tier: ready$/.test(l))) throw new Error(`no complete deep tier among: ${rows.join(' | ')}`);
    });
  } finally {
    await page.screenshot({ path: path.join(shotsDir, 'final.png') }).catch(() => undefined);
    await browser.close();
  }
  return { results: steps.results, timings };
}

async function alertText(page: Page): Promise<string> {
  return (
    await page
      .locator('.monaco-alert')
      .allTextContents()
      .catch(() => [] as string[])
  ).join(' | ');
}
