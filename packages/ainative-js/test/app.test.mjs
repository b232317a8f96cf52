import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AIApp, StreamingError, createAIApp } from '../src/index.js';
import { fakeServer } from './helpers/fake-server.mjs';

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
