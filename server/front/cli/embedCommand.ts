/** `semsearch embed "<text>"`: the embedding of one text, as the index or a query would compute it. */
import { parseArgs } from 'node:util';
import { Embedder } from '../../model/embedder';
import { MODEL_OPTIONS, resolveModelFromFlags } from './modelFlags';
import { parseDevice, UsageError } from './usage';

/** `semsearch embed "<text>" [--model M] [--device D] [--query] [--json]` */
export async function embedCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...MODEL_OPTIONS,
      query: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError('expected exactly one text argument (quote it)');
  const device = parseDevice(values.device);
  const model = await resolveModelFromFlags(values);
  const embedder = await Embedder.load(model, { device });
  try {
    const [vector] = await embedder.embed([positionals[0]], { kind: values.query ? 'query' : 'document' });
    if (values.json) {
      process.stdout.write(JSON.stringify({ model: embedder.info.model, device: embedder.info.device, dim: vector.length, vector: Array.from(vector) }) + '\n');
    } else {
      process.stdout.write(`model ${embedder.info.model}  device ${embedder.info.device} (${embedder.info.dtype})  dim ${vector.length}\n`);
      process.stdout.write(Array.from(vector, (x) => x.toFixed(6)).join(' ') + '\n');
    }
  } finally {
    embedder.dispose();
  }
  return 0;
}
