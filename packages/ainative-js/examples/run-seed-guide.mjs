// `node --experimental-websocket examples/run-seed-guide.mjs URL`: the seed guide's examples
// against the server at URL; prints what they saw as JSON.
import { runStreamingGuide } from './seed-guide.mjs';

const report = await runStreamingGuide(process.argv[2]);
process.stdout.write(`${JSON.stringify(report)}\n`);
