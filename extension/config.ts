/**
 * Typed getters for the client's view of the `semsearch.*` settings. The sidecar reads its own
 * settings through `workspace/configuration`; the client only needs the few that shape its UI, and
 * to know which changes take a sidecar restart. Defaults come from package.json (checked against
 * DEFAULT_SETTINGS by test/unit/manifest.test.ts), so this module needs no runtime import of the
 * protocol.
 */
import * as vscode from 'vscode';
import type { SearchMode } from '../server/protocol';

export const SECTION = 'semsearch';

/** Settings the sidecar reads once, at start: a change prompts "Restart now". */
export const RESTART_KEYS: readonly string[] = ['semsearch.model', 'semsearch.offline', 'semsearch.device', 'semsearch.tiers', 'semsearch.embedThreads'];

function cfg(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

/** Return the mode a new search starts in. */
export function defaultMode(): SearchMode {
  const m = cfg().get<string>('search.defaultMode');
  return m === 'semantic' || m === 'keyword' ? m : 'hybrid';
}

/** Return how many results a search asks for. */
export function resultCount(): number {
  const n = cfg().get<number>('search.resultCount');
  if (typeof n === 'number' && Number.isFinite(n) && n > 0) return Math.floor(n);
  return cfg().inspect<number>('search.resultCount')?.defaultValue ?? 20;
}

/** Return whether the hover offers "Find similar code". */
export function hoverEnabled(): boolean {
  return cfg().get<boolean>('hover.enabled', true);
}

/** Return the first restart-requiring key that `e` touches, if any. */
export function restartKeyChanged(e: vscode.ConfigurationChangeEvent): string | undefined {
  return RESTART_KEYS.find((k) => e.affectsConfiguration(k));
}

let updating = false;

/** Return true while this extension itself writes a restart-requiring setting (no prompt then). */
export function selfUpdating(): boolean {
  return updating;
}

/** Write the `semsearch.model` user setting (machine scope: user settings only). */
export async function setModel(value: string): Promise<void> {
  updating = true;
  try {
    await cfg().update('model', value, vscode.ConfigurationTarget.Global);
  } finally {
    updating = false;
  }
}
