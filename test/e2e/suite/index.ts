/**
 * Entry of the in-extension-host suite (`extensionTestsPath`): mocha inside the real extension
 * host, as @vscode/test-electron runs it. Ends with a plain "N passed, N failed" line.
 */
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', timeout: 240_000, color: false, reporter: 'spec' });
  mocha.addFile(path.join(__dirname, 'extension.test.js'));
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      // Mocha's summary is not read by CI; this line is.
      console.log(`in-host: ${runner.stats?.passes ?? 0} passed, ${failures} failed`);
      if (failures > 0) reject(new Error(`${failures} tests failed`));
      else resolve();
    });
  });
}
