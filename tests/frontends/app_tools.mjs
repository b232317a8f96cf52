// Drives an ainative server with ainative's own JS AIApp (packages/ainative-js) through a
// tool loop, and prints JSON.
//
// Input (argv[2], JSON): {api, message, config: {tools?, options?}, answers?: {toolName:
// output}}. Sends `message`; when the reply ends by calls to the client's tools, answers
// each with `answers[name]` through submitToolResults (an unknown name is left unanswered,
// and the InvalidRequestError that follows is reported). Output: {pending (the calls the
// first reply left), refused (the error of a submit without outputs, if any), messages
// (the final state's, without ids and timestamps), pendingAfter, error}.
import { AIApp } from '../../packages/ainative-js/src/index.js';

const input = JSON.parse(process.argv[2]);
const app = new AIApp({ apiUrl: input.api, streamMethod: 'SSE', ...(input.config ?? {}) });
const shown = ({ id, timestamp, metadata, ...message }) => ({ ...message, finishReason: metadata?.finishReason });

await app.sendMessage(input.message);
const pending = app.pendingToolCalls;
let refused = null;
if (pending.length && input.answers) {
  try {
    await app.submitToolResults({});
  } catch (error) {
    refused = { name: error.name, message: error.message };
  }
  const outputs = Object.fromEntries(pending.map((call) => [call.id, input.answers[call.name]]));
  await app.submitToolResults(outputs);
}
const state = app.getState();
console.log(
  JSON.stringify({
    pending,
    refused,
    messages: state.messages.map(shown),
    pendingAfter: app.pendingToolCalls,
    error: state.error ? String(state.error.message) : null,
  }),
);
app.destroy();
