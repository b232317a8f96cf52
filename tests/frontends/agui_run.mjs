// Runs an ainative server as an AG-UI agent with @ag-ui/client's HttpAgent and prints JSON.
//
// Input (argv[2], JSON): {url, threadId, runId, messages, tools?, context?, forwardedProps?}. The agent
// parses the SSE body, verifies the event sequence and assembles the messages itself.
import { HttpAgent } from '@ag-ui/client';

const input = JSON.parse(process.argv[2]);
const agent = new HttpAgent({ url: input.url, threadId: input.threadId, initialMessages: input.messages });
const events = [];
let error = null;
try {
  await agent.runAgent(
    {
      runId: input.runId,
      tools: input.tools ?? [],
      context: input.context ?? [],
      forwardedProps: input.forwardedProps ?? {},
    },
    { onEvent: ({ event }) => { events.push(event); } },
  );
} catch (e) {
  error = String(e?.message ?? e);
}
console.log(JSON.stringify({ events, messages: agent.messages, error }));
