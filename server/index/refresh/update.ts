/**
 * An incremental update: apply file events between refreshes. A path the store knows (or skipped
 * for its content) is re-read directly; a deleted path is removed (with everything under it); a
 * path the index has never seen, a folder, or an ignore file (.gitignore, .semsearchignore) needs
 * the walk's rules, so it turns the update into a full refresh (cheap: unchanged files cost one stat).
 */
import type { Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { FileRecord } from '../store';
import { FileEntry, IGNORE_FILES, readEntry } from '../walk';
import { finishRun, startEmbedStage } from './embedStage';
import { processEntry } from './fileStage';
import { fullRefresh } from './fullRefresh';
import type { Pipeline } from './pipeline';
import { RefreshSummary, RULE_REASONS, Run } from './run';

interface UpdatePlan {
  changed: { rel: string; entry: FileEntry; rec: FileRecord | undefined }[];
  deleted: string[];
  /** The rules must decide: run a full refresh instead. */
  needWalk: boolean;
}

/** Apply the events for `paths` (absolute or relative to the root); each path is looked at on disk. */
export async function applyUpdate(p: Pipeline, run: Run, paths: readonly string[]): Promise<RefreshSummary> {
  const rels = [...new Set(paths.map((x) => p.toRel(x)).filter((x): x is string => x !== null))].filter(
    (r) => !p.isOwnPath(r) && r !== '.git' && !r.startsWith('.git/'),
  );
  const plan = await planUpdate(p, rels);
  if (plan.needWalk) return fullRefresh(p, new Run('refresh', run.signal, run.withTransformer));

  run.summary.filesSeen = rels.length;
  const embedding = startEmbedStage(p, run);
  try {
    run.phase = 'chunk';
    const renamedTo = await applyChanges(p, run, plan);
    if (!run.signal.aborted) await applyDeletions(p, run, plan.deleted, renamedTo);
    return await finishRun(p, run, embedding);
  } catch (e) {
    run.fail();
    await embedding.catch(() => undefined);
    throw e;
  }
}

/** Sort the paths into changed and deleted files, or find that only a walk can decide. */
async function planUpdate(p: Pipeline, rels: readonly string[]): Promise<UpdatePlan> {
  const plan: UpdatePlan = { changed: [], deleted: [], needWalk: rels.includes('') };
  for (const rel of rels) {
    if (plan.needWalk) break;
    if (IGNORE_FILES.includes(path.posix.basename(rel))) {
      plan.needWalk = true;
      break;
    }
    const abs = path.join(p.root, rel);
    let st: Stats | null;
    try {
      st = await fsp.stat(abs);
    } catch {
      st = null; // gone (or a broken link): remove
    }
    if (st === null) {
      plan.deleted.push(rel);
      continue;
    }
    if (await underRuleSkippedDir(p, rel)) continue;
    if (st.isDirectory()) {
      plan.needWalk = true;
      continue;
    }
    const rec = await p.store.getFile(rel);
    const skipped = rec ? undefined : await p.store.skippedEntry(rel);
    if (!rec && (!skipped || RULE_REASONS.has(skipped.reason))) {
      if (skipped) continue; // left out by the rules before, and the rules did not change
      plan.needWalk = true; // new to the index: only the walk knows whether the rules admit it
      continue;
    }
    plan.changed.push({ rel, rec, entry: { root: p.root, absPath: abs, relPath: rel, size: st.size, mtimeMs: st.mtimeMs } });
  }
  return plan;
}

/** Re-read changed files; a new file holding a deleted file's content is a rename. Returns the old paths renamed. */
async function applyChanges(p: Pipeline, run: Run, plan: UpdatePlan): Promise<Set<string>> {
  const { store } = p;
  // Deletions first: a rename's new path then finds its content among the deleted files.
  const goneHashes = new Map<string, string>();
  for (const rel of plan.deleted) {
    const rec = await store.getFile(rel);
    if (rec) goneHashes.set(rec.hash, rel);
  }
  const renamedTo = new Set<string>();
  for (const c of plan.changed) {
    await p.gate(run.signal);
    if (run.signal.aborted) break;
    if (c.rec && c.rec.size === c.entry.size && c.rec.mtimeMs === c.entry.mtimeMs) {
      run.summary.filesUnchanged++;
      continue;
    }
    const read = await readEntry(c.entry, p.walkOptions);
    const from = !c.rec && read.type === 'text' ? goneHashes.get(read.hash) : undefined;
    if (from !== undefined && !renamedTo.has(from) && (await store.renameFile(from, c.rel, { size: c.entry.size, mtimeMs: c.entry.mtimeMs }))) {
      renamedTo.add(from);
      run.summary.filesRenamed++;
    } else {
      const r = await processEntry(p, run, c.entry, c.rec, null, read);
      if (r !== 'skipped') await store.updateSkipped([], [c.rel]);
    }
    p.progress(run);
  }
  return renamedTo;
}

/** Remove deleted paths (and everything indexed or skipped under them), except the renamed ones. */
async function applyDeletions(p: Pipeline, run: Run, deleted: readonly string[], renamedTo: ReadonlySet<string>): Promise<void> {
  const { store } = p;
  const gone: string[] = [];
  for (const rel of deleted) {
    if (renamedTo.has(rel)) continue;
    gone.push(rel, ...(await store.filesUnder(rel)));
  }
  run.summary.filesDeleted += await store.deleteFiles(gone);
  await store.updateSkipped([], [...deleted, ...(await Promise.all(deleted.map((d) => store.skippedUnder(d)))).flat()]);
}

/** True when a folder above `rel` was left out by the rules (ignored, excluded or hidden). */
async function underRuleSkippedDir(p: Pipeline, rel: string): Promise<boolean> {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    const s = await p.store.skippedEntry(parts.slice(0, i).join('/'));
    if (s && RULE_REASONS.has(s.reason)) return true;
  }
  return false;
}
