// The CLI's body, bundled as CommonJS into banger-cli.cjs and run by the
// launcher (launcher/launch.ts) through vm.Script, so V8 can reuse the
// compiled code of earlier starts. env-hygiene first, as in main.ts.
import './env-hygiene.js';
import { startCli } from './start-cli.js';

void startCli();
