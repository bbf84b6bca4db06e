// Run as a separate process by pull-image.test.ts (bundled with esbuild), so
// the test can kill -9 a pull in the middle of its download.
import { pullImage } from '../pull/pull-image.js';

const [entryJson, destDir, cacheDir] = process.argv.slice(2);
let last = 0;
await pullImage({
  entry: JSON.parse(entryJson!),
  destDir: destDir!,
  cacheDir: cacheDir!,
  progress: {
    bytes: (done) => {
      if (done - last >= 16 * 1024 || done === 0) {
        last = done;
        process.stdout.write(`bytes ${done}\n`);
      }
    },
  },
});
process.stdout.write('done\n');
