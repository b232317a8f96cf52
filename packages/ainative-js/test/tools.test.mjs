import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AINativeError, EventBus, InvalidRequestError, StreamingEngine, withToolResults } from '../src/index.js';
import { fakeServer } from './helpers/fake-server.mjs';
import { LOOKUP, clientTools, serverLoop } from './helpers/tool-scripts.mjs';

const CALLS = [
  { id: 'call_a', name: 'lookup', arguments: '{"q":"a"}' },
  { id: 'call_b', name: 'lookup', arguments: '{"q":"b"}' },
];

function ask(message) {
  return {
    action: 'chat',
    params: { message },
    context: { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }], topic: 'words' },
    options: { tools: [LOOKUP] },
  };
}

test('the result and stream-end carry the tool calls a stream ended by, and what its tool steps added', async (t) => {
  const server = await fakeServer({ script: clientTools });
  t.after(() => server.close());
  for (const method of ['SSE', 'WS']) {
    const bus = new EventBus();
    const ends = [];
    bus.on('stream-end', ({ payload }) => ends.push(payload));
    const result = await new StreamingEngine(bus).start({ url: server.url, method }, ask('look a and b up'));
    assert.equal(result.reason, 'complete');
    assert.equal(result.finishReason, 'tool_call');
    assert.deepEqual(result.toolCalls, CALLS);
    assert.deepEqual(result.messages, [{ role: 'assistant', tool_calls: CALLS }]);
    assert.deepEqual(ends.map((end) => end.toolCalls), [CALLS]);
  }
});

test('a server tool loop leaves its transcript in result.messages and no calls to answer', async (t) => {
  const server = await fakeServer({ script: serverLoop });
  t.after(() => server.close());
  const result = await new StreamingEngine().start(server.url, ask('6*7?'));
  assert.equal(result.finishReason, 'stop');
  assert.deepEqual(result.toolCalls, []);
  assert.deepEqual(result.messages.map((m) => m.role), ['assistant', 'tool']);
});

test('withToolResults continues the conversation: history, the user turn, the steps, one answer per call', () => {
  const request = ask('look a and b up');
  const result = { messages: [{ role: 'assistant', tool_calls: CALLS }], toolCalls: CALLS };
  const next = withToolResults(request, result, { call_a: { hits: 2 } }, { errors: { call_b: 'no such word' } });
  assert.deepEqual(next, {
    action: 'chat',
    params: {},
    context: {
      topic: 'words',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'user', content: 'look a and b up' },
        { role: 'assistant', tool_calls: CALLS },
        { role: 'tool', tool_call_id: 'call_a', name: 'lookup', content: '{"hits":2}' },
        { role: 'tool', tool_call_id: 'call_b', name: 'lookup', content: 'no such word', is_error: true },
      ],
    },
    options: { tools: [LOOKUP] },
  });
  assert.deepEqual(request, ask('look a and b up'), 'the request it continues is left as it was');
  const text = withToolResults(next, { messages: [], toolCalls: [CALLS[0]] }, { call_a: 'plain text' });
  assert.deepEqual(text.context.messages.at(-1), { role: 'tool', tool_call_id: 'call_a', name: 'lookup', content: 'plain text' });
  assert.equal(text.context.messages.length, next.context.messages.length + 1, 'no user turn without params.message');
});

test('withToolResults names the call it has no output for', () => {
  const result = { messages: [{ role: 'assistant', tool_calls: CALLS }], toolCalls: CALLS };
  assert.throws(
    () => withToolResults(ask('x'), result, { call_a: 'found' }),
    (error) =>
      error instanceof InvalidRequestError &&
      error instanceof AINativeError &&
      error.code === 'invalid_request' &&
      error.message.includes('"call_b"') &&
      error.message.includes('lookup'),
  );
});

test('the request withToolResults makes is what the server continues from', async (t) => {
  const server = await fakeServer({ script: clientTools });
  t.after(() => server.close());
  const engine = new StreamingEngine();
  const request = ask('look a and b up');
  const first = await engine.start(server.url, request);
  const next = withToolResults(request, first, { call_a: 'found a', call_b: 'found b' });
  const tokens = [];
  engine.eventBus.on('stream-data', ({ payload }) => payload.type === 'token' && tokens.push(payload.token));
  const second = await engine.start(server.url, next);
  assert.equal(second.finishReason, 'stop');
  assert.deepEqual(tokens, ['found a\nfound b']);
  const posts = server.log.filter((entry) => entry.method === 'POST').map((entry) => entry.body);
  assert.deepEqual(posts[1], next);
  assert.equal(posts[1].params.message, undefined);
});
