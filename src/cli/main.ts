// Entry point of the `berth` command (bin/berth.js imports the compiled file): runs the program on argv.
import { run } from './program.js';

process.exitCode = await run(process.argv);
