import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AINativeClient, ServerError } from '../src/index.js';
import { fakeServer } from './helpers/fake-server.mjs';

test('for await (const token of client.streamText(...)) gives the tokens', async (t) => {
  const server = await fakeServer();
  t.after(() => server.close());
  for (const transport of ['SSE', 'WS', 'AUTO']) {
    const client = new AINativeClient(server.url, { transport });
    const tokens = [];
    for await (const token of client.streamText('Hello big world')) tokens.push(token);
    assert.deepEqual(tokens, ['Hello', ' big', ' world'], transport);
  }
});

test('the request carries provider, model, context and provider options', async (t) => {
  const server = await fakeServer();
  t.after(() => server.close());
  const client = new AINativeClient(`${server.url}/ai/stream`, { provider: 'echo', apiKey: 'k' });
  assert.equal(await client.completeText('a b', { model: 'm', max_tokens: 5, tokens: 3 }), 'a b');
  const post = server.log.find((entry) => entry.method === 'POST');
  assert.deepEqual(post.body, {
    action: 'chat',
    params: { message: 'a b' },
    context: {},
    options: { max_tokens: 5, tokens: 3 },
    provider: 'echo',
    model: 'm',
  });
  assert.equal(post.headers.authorization, 'Bearer k');
});

test('an error from the server is thrown as a ServerError', async (t) => {
  const server = await fakeServer({
    refuse: () => ({ status: 404, error: { code: 'unknown_provider', message: "unknown provider 'x'" } }),
  });
  t.after(() => server.close());
  for (const transport of ['SSE', 'WS']) {
    const client = new AINativeClient(server.url, { transport });
    await assert.rejects(client.completeText('hi'), (error) => {
      assert.ok(error instanceof ServerError);
      assert.equal(error.status, 404);
      assert.equal(error.code, 'unknown_provider');
      return true;
    });
  }
  const failing = await fakeServer({ error: { message: 'upstream went away', code: 'provider_unavailable' } });
  t.after(() => failing.close());
  await assert.rejects(new AINativeClient(failing.url).completeText('a'), {
    name: 'ServerError',
    code: 'provider_unavailable',
    message: 'upstream went away',
  });
});

test('an AbortSignal stops the stream on the server and throws its reason', async (t) => {
  const server = await fakeServer({ delay: 15 });
  t.after(() => server.close());
  const client = new AINativeClient(server.url, { transport: 'WS' });
  const controller = new AbortController();
  const tokens = [];
  await assert.rejects(
    (async () => {
      for await (const token of client.streamText('a b c d e f g', { signal: controller.signal })) {
        tokens.push(token);
        if (tokens.length === 2) controller.abort();
      }
    })(),
    { name: 'AbortError' },
  );
  assert.deepEqual(tokens, ['a', ' b']);
  for (let i = 0; i < 100 && !server.cancels.length; i += 1) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(server.cancels, ['s_1']);
});

test('leaving the loop early stops the stream on the server', async (t) => {
  const server = await fakeServer({ delay: 15 });
  t.after(() => server.close());
  const client = new AINativeClient(server.url);
  for await (const token of client.streamText('a b c d e f g')) {
    assert.equal(token, 'a');
    break;
  }
  for (let i = 0; i < 100 && !server.cancels.length; i += 1) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(server.cancels, ['s_1']);
  assert.equal(server.streams.get('s_1').cancelled, true);
});

test('the server URL may be a base, an endpoint or a ws:// URL', async (t) => {
  const server = await fakeServer();
  t.after(() => server.close());
  const ws = server.url.replace('http', 'ws');
  for (const url of [server.url, `${server.url}/`, `${server.url}/ai/stream`, `${ws}/ai/ws`]) {
    assert.equal(await new AINativeClient(url).completeText('x y'), 'x y', url);
  }
});
