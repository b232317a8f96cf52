// The client examples of the seed's Streaming Guide, run against an ainative server with
// this client. Each block is the guide's code with two changes only: the import
// ('@hari7261/ainative-client' becomes 'ainative') and the server's URL
// ('http://localhost:3001' becomes `apiUrl`). TypeScript's `as const` is dropped, the
// React component is rendered by a state listener, and vitest's `test`/`expect` are two
// small functions below. `runStreamingGuide(apiUrl)` returns what each example saw.

import { StreamingEngine, EventBus, createAIApp } from 'ainative';

function test(name, body) {
  return body();
}

function expect(actual) {
  return {
    toBeGreaterThan(expected) {
      if (!(actual > expected)) throw new Error(`expected ${actual} > ${expected}`);
    },
  };
}

export async function runStreamingGuide(apiUrl) {
  const report = {};
  const logged = [];
  const log = console.log;
  const error = console.error;
  console.log = (...args) => logged.push(args.map(String).join(' '));
  console.error = (...args) => logged.push(args.map(String).join(' '));
  try {
    // -- Streaming Methods: SSE, WebSockets, Auto ------------------------------------------
    report.methods = {};
    for (const config of [
      { apiUrl: apiUrl, streamMethod: 'SSE' },
      { apiUrl: apiUrl, streamMethod: 'WS' },
      { streamMethod: 'AUTO', apiUrl: apiUrl },
    ]) {
      const app = createAIApp(config);
      await app.sendMessage('Hello', { stream: true });
      report.methods[config.streamMethod] = app.getState().messages.map((m) => m.content);
    }

    // -- Using AIApp: {state.streaming && <div>Streaming...</div>}, sendMessage('Hello') -----
    {
      const app = createAIApp({ apiUrl: apiUrl, streamMethod: 'SSE' });
      const rendered = [];
      app.onStateChange((state) => rendered.push(state.streaming ? 'Streaming...' : ''));
      await app.sendMessage('Hello', { stream: true });
      report.usingAIApp = { sawStreaming: rendered.includes('Streaming...'), last: rendered.at(-1) };
    }

    // -- Manual Streaming -------------------------------------------------------------------
    {
      const eventBus = new EventBus();
      const streaming = new StreamingEngine(eventBus);

      // Listen for tokens
      eventBus.on('stream-data', ({ payload }) => {
        console.log('Token:', payload.token);
      });

      // Start streaming
      await streaming.start({
        url: `${apiUrl}/ai/stream`,
        method: 'SSE',
      }, {
        action: 'chat',
        params: { message: 'Hello' },
      });
      report.manual = logged.splice(0);
    }

    // -- Error Handling (a provider the server does not have) ------------------------------
    {
      const eventBus = new EventBus();
      const streaming = new StreamingEngine(eventBus);
      const ends = [];

      eventBus.on('stream-error', ({ payload }) => {
        console.error('Stream error:', payload.error);
      });

      eventBus.on('stream-end', ({ payload }) => {
        if (payload.reason === 'error') {
          // Handle error
          ends.push(payload.reason);
        }
      });

      await streaming.start({ url: `${apiUrl}/ai/stream`, method: 'SSE' }, {
        action: 'chat',
        params: { message: 'Hello' },
        provider: 'no-such-provider',
      });
      report.errors = { logged: logged.splice(0), ends };
    }

    // -- Cancellation: app.stopStreaming() --------------------------------------------------
    {
      const app = createAIApp({ apiUrl: apiUrl, options: { tokens: 1000, delay: 0.01 } });
      app.onStateChange((state) => {
        if (state.streaming && state.messages.at(-1).content.split(' ').length > 3) {
          app.stopStreaming();
        }
      });
      const state = await app.sendMessage('count', { stream: true });
      const reply = state.messages.at(-1);
      report.cancellation = { streaming: state.streaming, streamId: reply.metadata.streamId, reply: reply.content };
    }

    // -- Testing Streaming ------------------------------------------------------------------
    {
      const eventBus = new EventBus();
      const streaming = new StreamingEngine(eventBus);
      const config = { url: `${apiUrl}/ai/stream`, method: 'SSE' };
      const data = { action: 'chat', params: { message: 'Hello world' } };

      await test('streaming works', async () => {
        const tokens = [];

        eventBus.on('stream-data', ({ payload }) => {
          tokens.push(payload.token);
        });

        await streaming.start(config, data);

        expect(tokens.length).toBeGreaterThan(0);
        report.testing = tokens;
      });
    }
  } finally {
    console.log = log;
    console.error = error;
  }
  return report;
}
