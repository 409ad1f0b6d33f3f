// Mocha's spec reporter plus a closing line in the plain form CI reads: "N passed, N failed, N skipped".
'use strict';
const Mocha = require('mocha');

class SpecWithTotals extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const s = runner.stats;
      // After the spec reporter's own epilogue.
      process.nextTick(() => console.log(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped`));
    });
  }
}
module.exports = SpecWithTotals;
