/** The MCP tools' result schemas (zod), shared by the tools and the served folder's status. */
import { z } from 'zod';
import { DEFAULT_TOP } from '../../protocol';

/** Most results an agent may ask for in one call (kept small: results go into its context). */
export const MAX_TOP = 50;
export { DEFAULT_TOP };

export const hitSchema = z.object({
  path: z.string().describe('Relative to the served folder, with / separators'),
  startLine: z.number().int().describe('1-based, inclusive'),
  endLine: z.number().int().describe('1-based, inclusive'),
  symbol: z.string().nullable(),
  kind: z.string(),
  language: z.string(),
  score: z.number(),
  snippet: z.string().describe('The first lines of the chunk'),
});
export type HitJson = z.infer<typeof hitSchema>;

/** Whether results cover the whole folder, shared by search and find_similar. */
export const coverageShape = {
  partial: z.boolean().describe('Some chunks have no vector yet (or the index is being built): results may miss code'),
  indexing: z.boolean().describe('An index build is running now'),
  note: z.string().optional().describe('Why the results may be incomplete, and what to do'),
};

export const stateSchema = z.enum(['loading', 'indexing', 'ready', 'partial', 'error']);

export const statusShape = {
  root: z.string(),
  indexPath: z.string(),
  state: stateSchema.describe('loading: the model loads; indexing: a build runs; ready: complete; partial: some chunks lack vectors; error: see message'),
  message: z.string(),
  model: z.object({ id: z.string(), device: z.string(), dtype: z.string(), dim: z.number() }).nullable(),
  files: z.number().int(),
  chunks: z.number().int(),
  chunksWithVectors: z.number().int(),
  skippedByReason: z.record(z.string(), z.number()),
  lastIndexed: z.string().nullable().describe('When the last complete index finished (ISO 8601)'),
  progress: z
    .object({ phase: z.string(), filesSeen: z.number(), filesIndexed: z.number(), chunks: z.number(), chunksEmbedded: z.number(), chunksPending: z.number() })
    .nullable()
    .describe('The running build, if any'),
  watching: z.boolean().describe('Changes on disk are indexed as they happen'),
};
export type StatusJson = z.infer<z.ZodObject<typeof statusShape>>;
