import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AIApp, InvalidRequestError, StreamingError, createAIApp } from '../src/index.js';
import { fakeServer } from './helpers/fake-server.mjs';
import { LOOKUP, clientTools, serverLoop, toolCall } from './helpers/tool-scripts.mjs';

test('sendMessage streams the reply into the state', async (t) => {
  const server = await fakeServer();
  t.after(() => server.close());
  for (const streamMethod of ['SSE', 'WS']) {
    const app = new AIApp({ apiUrl: server.url, streamMethod, initialState: { theme: 'dark' } });
    const streaming = [];
    app.onStateChange((state) => streaming.push(state.streaming));
    await app.sendMessage('Hello world');
    const state = app.getState();
    assert.deepEqual(state.messages.map((m) => [m.role, m.content]), [
      ['user', 'Hello world'],
      ['assistant', 'Hello world'],
    ]);
    assert.equal(state.streaming, false);
    assert.equal(state.theme, 'dark');
    assert.equal(state.metadata.provider, 'fake');
    assert.equal(state.messages[1].metadata.finishReason, 'stop');
    assert.ok(streaming.includes(true));
    assert.equal(streaming.at(-1), false);
  }
});

test('the conversation so far goes along as context.messages', async (t) => {
  const server = await fakeServer();
  t.after(() => server.close());
  const app = createAIApp({ apiUrl: server.url, provider: 'echo', options: { delay: 0 } });
  await app.sendMessage('one');
  await app.sendMessage('two');
  const posts = server.log.filter((entry) => entry.method === 'POST').map((entry) => entry.body);
  assert.deepEqual(posts[1], {
    action: 'chat',
    params: { message: 'two' },
    context: {
      messages: [
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'one' },
      ],
    },
    options: { delay: 0 },
    provider: 'echo',
  });
});

test('stopStreaming stops on the server and keeps what arrived', async (t) => {
  const server = await fakeServer({ delay: 20 });
  t.after(() => server.close());
  const app = new AIApp({ apiUrl: server.url });
  app.onStateChange((state) => {
    if (state.streaming && state.messages.at(-1).content === 'a b') app.stopStreaming();
  });
  const state = await app.sendMessage('a b c d e f');
  assert.equal(state.streaming, false);
  assert.equal(state.messages.at(-1).content, 'a b');
  for (let i = 0; i < 100 && !server.cancels.length; i += 1) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(server.cancels, ['s_1']);
});

test('an error ends up in state.error; a second send while streaming is refused', async (t) => {
  const server = await fakeServer({ delay: 10, error: { message: 'upstream went away', code: 'provider_unavailable' } });
  t.after(() => server.close());
  const app = new AIApp({ apiUrl: server.url });
  const first = app.sendMessage('a b');
  await assert.rejects(app.sendMessage('again'), StreamingError);
  const state = await first;
  assert.equal(state.error.message, 'upstream went away');
  assert.equal(state.messages.length, 2);
});

// -- tools ---------------------------------------------------------------------------------

const strip = ({ id, timestamp, ...rest }) => {
  assert.equal(typeof id, 'string');
  assert.equal(typeof timestamp, 'number');
  return rest;
};

test('a server tool loop shows as it runs: the call, its result, then a new assistant message', async (t) => {
  const server = await fakeServer({ script: serverLoop });
  t.after(() => server.close());
  for (const streamMethod of ['SSE', 'WS']) {
    const app = new AIApp({ apiUrl: server.url, streamMethod, tools: ['calculate'] });
    const seen = [];
    app.onStateChange((state) => seen.push(state.messages.map((m) => m.role).join(' ')));
    const state = await app.sendMessage('6*7?');
    const call = { id: 'call_1', name: 'calculate', arguments: '{"expression":"6*7"}' };
    assert.deepEqual(state.messages.map(strip), [
      { role: 'user', content: '6*7?' },
      { role: 'assistant', content: 'Let me compute.', toolCalls: [call], providerMetadata: { fake: { signature: 'sig' } } },
      { role: 'tool', toolCallId: 'call_1', name: 'calculate', content: '42' },
      { role: 'assistant', content: 'It is 42.', metadata: { finishReason: 'stop', streamId: `s_${server.streams.size}` } },
    ]);
    assert.ok(seen.includes('user assistant tool'), 'the result showed before the next assistant message');
    assert.deepEqual(app.pendingToolCalls, []);
    const body = server.log.filter((entry) => entry.method === 'POST' || entry.method === 'WS-FRAME').at(-1).body;
    assert.deepEqual(body.tools, ['calculate']);

    await app.sendMessage('thanks');
    const next = server.log.filter((entry) => entry.method === 'POST' || entry.method === 'WS-FRAME').at(-1).body;
    assert.deepEqual(next.context.messages, [
      { role: 'user', content: '6*7?' },
      { role: 'assistant', content: 'Let me compute.', tool_calls: [call], provider_metadata: { fake: { signature: 'sig' } } },
      { role: 'tool', content: '42', name: 'calculate', tool_call_id: 'call_1' },
      { role: 'assistant', content: 'It is 42.' },
    ]);
  }
});

test("a server tool's error is a tool message with isError", async (t) => {
  const script = () => [
    ...toolCall('call_1', 'calculate', { expression: '1/0' }, { server: true }),
    { type: 'tool_result', data: { id: 'call_1', name: 'calculate', arguments: { expression: '1/0' }, error: 'calculate: division by zero' } },
    { type: 'token', data: 'Cannot divide by zero.' },
  ];
  const server = await fakeServer({ script });
  t.after(() => server.close());
  const app = new AIApp({ apiUrl: server.url });
  const state = await app.sendMessage('1/0?');
  assert.deepEqual(strip(state.messages[2]), {
    role: 'tool',
    toolCallId: 'call_1',
    name: 'calculate',
    content: 'calculate: division by zero',
    isError: true,
  });
  assert.equal(state.messages[3].content, 'Cannot divide by zero.');
});

test("the client's tools: pendingToolCalls, then submitToolResults continues without a new message", async (t) => {
  const server = await fakeServer({ script: clientTools });
  t.after(() => server.close());
  const app = new AIApp({ apiUrl: server.url, options: { tools: [LOOKUP] } });
  const ends = [];
  app.eventBus.on('stream-end', ({ payload }) => ends.push(payload));
  const calls = [
    { id: 'call_a', name: 'lookup', arguments: '{"q":"a"}' },
    { id: 'call_b', name: 'lookup', arguments: '{"q":"b"}' },
  ];
  let state = await app.sendMessage('look a and b up');
  assert.deepEqual(app.pendingToolCalls, calls);
  assert.deepEqual(ends.at(-1).toolCalls, calls);
  assert.equal(state.messages.at(-1).metadata.finishReason, 'tool_call');
  assert.deepEqual(state.messages.at(-1).toolCalls, calls);

  await assert.rejects(app.submitToolResults({ call_a: 'x' }), InvalidRequestError, 'call_b has no output');
  assert.equal(app.getState().messages.length, 2, 'a refused submit adds nothing');
  assert.deepEqual(app.pendingToolCalls, calls);

  state = await app.submitToolResults({ call_a: { hits: 2 } }, { errors: { call_b: 'no such word' } });
  assert.deepEqual(app.pendingToolCalls, []);
  assert.deepEqual(state.messages.slice(2).map(strip), [
    { role: 'tool', toolCallId: 'call_a', name: 'lookup', content: '{"hits":2}' },
    { role: 'tool', toolCallId: 'call_b', name: 'lookup', content: 'no such word', isError: true },
    { role: 'assistant', content: '{"hits":2}\nno such word', metadata: { finishReason: 'stop', streamId: 's_2' } },
  ]);
  const posts = server.log.filter((entry) => entry.method === 'POST').map((entry) => entry.body);
  assert.equal(posts.length, 2);
  assert.deepEqual(posts[1], {
    action: 'chat',
    params: {},
    context: {
      messages: [
        { role: 'user', content: 'look a and b up' },
        { role: 'assistant', content: '', tool_calls: calls },
        { role: 'tool', content: '{"hits":2}', name: 'lookup', tool_call_id: 'call_a' },
        { role: 'tool', content: 'no such word', name: 'lookup', tool_call_id: 'call_b', is_error: true },
      ],
    },
    options: { tools: [LOOKUP] },
  });
  await assert.rejects(app.submitToolResults({}), InvalidRequestError, 'nothing is pending any more');
});
