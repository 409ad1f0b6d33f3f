// The chunker's output on a fixture tree in every supported language must match the golden file
// for the declared CHUNKER_VERSION (see test/support/chunkGolden.ts): a change to chunk output
// without a version bump fails here.
import { strict as assert } from 'node:assert';
import { CHUNKER_VERSION, LANGUAGE_SPECS } from '../../server/index/chunk';
import { goldenOutput, outputHash, readGolden } from '../support/chunkGolden';

describe('chunker golden output', function () {
  this.timeout(120_000);

  it('covers every language with a grammar, Markdown and plain text', async () => {
    const output = await goldenOutput();
    const languages = new Set(Object.values(output).flatMap((lines) => lines.map((l) => l.split(' ')[1])));
    for (const lang of [...Object.keys(LANGUAGE_SPECS), 'markdown', 'text']) assert.ok(languages.has(lang), `no fixture in ${lang}`);
  });

  it(`matches the golden file recorded for CHUNKER_VERSION ${CHUNKER_VERSION}`, async () => {
    const golden = readGolden();
    const output = await goldenOutput();
    const recorded = golden.versions[String(CHUNKER_VERSION)];
    assert.ok(recorded, `the golden file has no output for CHUNKER_VERSION ${CHUNKER_VERSION}: run npm run golden:chunks`);
    const changed = Object.keys({ ...output, ...golden.output }).filter((f) => JSON.stringify(output[f]) !== JSON.stringify(golden.output[f]));
    assert.deepEqual(
      changed,
      [],
      `the chunk output changed for ${changed.join(', ')}: bump CHUNKER_VERSION in server/index/chunk/version.ts (every index re-chunks), then npm run golden:chunks`,
    );
    assert.equal(outputHash(output), recorded, 'the golden file was edited by hand: its output does not match the hash recorded for this version');
  });
});
