// The CLI as one ESM module: what tests and e2e helpers bundle on their own.
// The installed banger.cjs is the launcher (launcher/launch.ts), which runs the
// same code from cli-body.ts through V8's code cache.
import './env-hygiene.js';
import { startCli } from './start-cli.js';

await startCli();
