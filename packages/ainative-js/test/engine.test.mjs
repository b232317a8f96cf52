import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ConnectionError, EventBus, ServerError, StreamingEngine, StreamingError } from '../src/index.js';
import { fakeServer } from './helpers/fake-server.mjs';

const MESSAGE = 'one two three four five six seven eight nine ten';

function record(bus) {
  const seen = [];
  bus.onAll((event) => seen.push(event));
  const of = (type) => seen.filter((event) => event.type === type).map((event) => event.payload);
  const tokens = () => of('stream-data').filter((p) => p.type === 'token').map((p) => p.token).join('');
  return { seen, of, tokens };
}

function chat(message = MESSAGE, extra = {}) {
  return { action: 'chat', params: { message }, ...extra };
}

async function until(predicate, what) {
  for (let i = 0; i < 500; i += 1) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const method of ['SSE', 'WS']) {
  describe(`over ${method}`, () => {
    test('streams tokens, metadata first, and ends exactly once with complete', async (t) => {
      const server = await fakeServer();
      t.after(() => server.close());
      const bus = new EventBus();
      const { of, tokens, seen } = record(bus);
      const engine = new StreamingEngine(bus);
      const result = await engine.start({ url: `${server.url}/ai/stream`, method }, chat());
      assert.equal(tokens(), MESSAGE);
      assert.equal(result.reason, 'complete');
      assert.equal(result.finishReason, 'stop');
      assert.equal(result.transport, method);
      assert.equal(result.streamId, 's_1');
      assert.deepEqual(result.usage, { output_tokens: 10 });
      assert.equal(engine.isActive(), false);
      assert.deepEqual(of('stream-end'), [
        { reason: 'complete', finishReason: 'stop', streamId: 's_1', usage: { output_tokens: 10 }, toolCalls: [] },
      ]);
      assert.deepEqual([result.messages, result.toolCalls], [[], []]);
      const data = of('stream-data');
      assert.deepEqual(data[0], {
        type: 'metadata',
        metadata: { stream_id: 's_1', provider: 'fake', model: 'fake' },
        id: 1,
      });
      assert.deepEqual(data[1], { type: 'token', token: 'one', id: 2 });
      assert.equal(seen[0].type, 'stream-start');
      assert.deepEqual(seen[0].payload.data, chat());
      assert.equal(seen.at(-1).type, 'stream-end');
    });

    test('a connection cut mid-stream resumes from the last event id: nothing lost or repeated', async (t) => {
      const server = await fakeServer({ cutAfter: 3 });
      t.after(() => server.close());
      const bus = new EventBus();
      const { of, tokens } = record(bus);
      const engine = new StreamingEngine(bus);
      const result = await engine.start({ url: server.url, method, reconnectDelay: 5 }, chat());
      assert.equal(result.reason, 'complete');
      assert.equal(tokens(), MESSAGE);
      const ids = of('stream-data').map((p) => p.id);
      assert.deepEqual(ids, [...Array(11).keys()].map((i) => i + 1));
      assert.ok(result.reconnects >= 3, `reconnects: ${result.reconnects}`);
      assert.equal(of('stream-reconnect').length, result.reconnects);
      assert.equal(of('stream-end').length, 1);
      // One run: resumed, never started again.
      assert.equal(server.streams.size, 1);
      const resumes = server.log.filter((entry) =>
        method === 'SSE' ? entry.method === 'GET' : entry.body?.type === 'resume',
      );
      assert.equal(resumes.length, result.reconnects);
      if (method === 'SSE') {
        assert.deepEqual(
          resumes.map((entry) => [entry.path, entry.headers['last-event-id']]),
          resumes.map((_, i) => ['/ai/stream/s_1', String(3 * (i + 1))]),
        );
      } else {
        assert.deepEqual(
          resumes.map((entry) => entry.body),
          resumes.map((_, i) => ({ type: 'resume', stream_id: 's_1', last_event_id: 3 * (i + 1) })),
        );
      }
    });

    test('reconnect() drops the connection and the stream resumes losslessly', async (t) => {
      const server = await fakeServer({ delay: 15 });
      t.after(() => server.close());
      const bus = new EventBus();
      const { of, tokens } = record(bus);
      const engine = new StreamingEngine(bus);
      let dropped = false;
      bus.on('stream-data', ({ payload }) => {
        if (payload.token === ' three' && !dropped) dropped = engine.reconnect();
      });
      const result = await engine.start({ url: server.url, method, reconnectDelay: 5 }, chat());
      assert.equal(dropped, true);
      assert.equal(result.reason, 'complete');
      assert.equal(result.reconnects, 1);
      assert.equal(tokens(), MESSAGE);
      assert.equal(of('stream-reconnect')[0].lastEventId, 4);
      assert.equal(server.streams.size, 1);
    });

    test('stop() cancels on the server and ends at once with aborted', async (t) => {
      const server = await fakeServer({ delay: 20 });
      t.after(() => server.close());
      const bus = new EventBus();
      const { of, tokens } = record(bus);
      const engine = new StreamingEngine(bus);
      let stopping;
      bus.on('stream-data', ({ payload }) => {
        if (payload.token === ' two') {
          stopping = engine.stop();
          assert.equal(engine.isActive(), false); // the seed's stop(): over at once
          assert.deepEqual(of('stream-end').map((p) => p.reason), ['aborted']);
        }
      });
      const result = await engine.start({ url: server.url, method }, chat());
      await stopping;
      assert.equal(result.reason, 'aborted');
      assert.equal(tokens(), 'one two');
      await until(() => server.cancels.length === 1, 'the cancel');
      assert.deepEqual(server.cancels, ['s_1']);
      assert.equal(server.streams.get('s_1').cancelled, true);
      assert.equal(of('stream-end').length, 1);
      assert.equal(of('stream-error').length, 0);
    });

    test('an AbortSignal stops the stream, on the server too', async (t) => {
      const server = await fakeServer({ delay: 20 });
      t.after(() => server.close());
      const bus = new EventBus();
      const { tokens } = record(bus);
      const engine = new StreamingEngine(bus);
      const controller = new AbortController();
      bus.on('stream-data', ({ payload }) => {
        if (payload.token === ' three') controller.abort();
      });
      const result = await engine.start({ url: server.url, method, signal: controller.signal }, chat());
      assert.equal(result.reason, 'aborted');
      assert.equal(tokens(), 'one two three');
      await until(() => server.cancels.length === 1, 'the cancel');
      assert.equal(server.streams.get('s_1').cancelled, true);
    });

    test('a refused request is a stream-error with the server code, then one stream-end', async (t) => {
      const server = await fakeServer({
        refuse: () => ({
          status: 429,
          retryAfter: 2,
          error: { code: 'provider_rate_limited', message: 'slow down', retryable: true, retry_after: 1.5 },
        }),
      });
      t.after(() => server.close());
      const bus = new EventBus();
      const { of } = record(bus);
      const result = await new StreamingEngine(bus).start({ url: server.url, method }, chat());
      assert.equal(result.reason, 'error');
      assert.ok(result.error instanceof ServerError);
      assert.equal(result.error.status, 429);
      assert.equal(result.error.code, 'provider_rate_limited');
      assert.equal(result.error.retryAfter, 1.5);
      assert.equal(result.reconnects, 0);
      const [error] = of('stream-error');
      assert.equal(error.code, 'provider_rate_limited');
      assert.equal(error.status, 429);
      assert.match(error.error, /slow down/);
      assert.deepEqual(of('stream-end').map((p) => p.reason), ['error']);
    });

    test('an error event in the stream ends it with reason error', async (t) => {
      const server = await fakeServer({ error: { message: 'upstream went away', code: 'provider_unavailable' } });
      t.after(() => server.close());
      const bus = new EventBus();
      const { of, tokens } = record(bus);
      const result = await new StreamingEngine(bus).start({ url: server.url, method }, chat('a b'));
      assert.equal(tokens(), 'a b');
      assert.equal(result.reason, 'error');
      assert.equal(result.finishReason, 'error');
      assert.equal(result.error.code, 'provider_unavailable');
      assert.deepEqual(of('stream-error'), [
        { error: 'upstream went away', code: 'provider_unavailable', retryable: false, id: 4 },
      ]);
      assert.deepEqual(of('stream-end').map((p) => p.reason), ['error']);
    });

    test('the bearer key goes as a header (SSE) or is traded for a ?ticket= (WS)', async (t) => {
      const server = await fakeServer({ apiKey: 'sekret' });
      t.after(() => server.close());
      const engine = new StreamingEngine();
      const refused = await engine.start({ url: server.url, method, reconnect: false }, chat('hi'));
      assert.equal(refused.reason, 'error');
      const result = await engine.start(
        { url: server.url, method, headers: { Authorization: 'Bearer sekret' } },
        chat('hi'),
      );
      assert.equal(result.reason, 'complete');
      if (method === 'WS') {
        assert.ok(
          server.log.some((entry) => entry.method === 'WS' && /^ticket=t\d+_\d+&resumable=1$/.test(entry.query)),
        );
        assert.ok(!server.log.some((entry) => entry.method === 'WS' && entry.query.includes('sekret')));
      }
    });

    test('a client that reconnects declares it resumes; one that does not, does not', async (t) => {
      const server = await fakeServer();
      t.after(() => server.close());
      const engine = new StreamingEngine();
      await engine.start({ url: server.url, method }, chat('hi'));
      await engine.start({ url: server.url, method, reconnect: false }, chat('hi'));
      const opens = server.log.filter((entry) =>
        method === 'WS' ? entry.method === 'WS' : entry.method === 'POST',
      );
      const declared = opens.map((entry) =>
        method === 'WS'
          ? new URLSearchParams(entry.query).get('resumable')
          : (entry.headers['x-ainative-resumable'] ?? null),
      );
      assert.deepEqual(declared, ['1', null]);
    });
  });
}

test('starting while a stream is active is a StreamingError', async (t) => {
  const server = await fakeServer({ delay: 20 });
  t.after(() => server.close());
  const engine = new StreamingEngine();
  const first = engine.start(server.url, chat());
  await assert.rejects(engine.start(server.url, chat()), StreamingError);
  engine.stop();
  assert.equal((await first).reason, 'aborted');
});

test('AUTO falls back to WS when SSE is not served, and remembers it', async (t) => {
  const server = await fakeServer({ noSSE: true });
  t.after(() => server.close());
  const engine = new StreamingEngine();
  const result = await engine.start({ url: server.url, method: 'AUTO' }, chat('a b'));
  assert.equal(result.reason, 'complete');
  assert.equal(result.transport, 'WS');
  const posts = server.log.filter((entry) => entry.method === 'POST').length;
  const again = await engine.start({ url: server.url, method: 'AUTO' }, chat('a b'));
  assert.equal(again.transport, 'WS');
  assert.equal(server.log.filter((entry) => entry.method === 'POST').length, posts);
});

test('AUTO falls back to SSE when the WebSocket cannot connect', async (t) => {
  const server = await fakeServer({ noWS: true });
  t.after(() => server.close());
  const result = await new StreamingEngine().start(
    { url: server.url, method: 'AUTO', autoOrder: ['WS', 'SSE'] },
    chat('a b'),
  );
  assert.equal(result.reason, 'complete');
  assert.equal(result.transport, 'SSE');
});

test("AUTO does not fall back on the server's own refusal", async (t) => {
  const server = await fakeServer({
    refuse: () => ({ status: 404, error: { code: 'unknown_provider', message: "unknown provider 'x'" } }),
  });
  t.after(() => server.close());
  const result = await new StreamingEngine().start({ url: server.url, method: 'AUTO' }, chat());
  assert.equal(result.reason, 'error');
  assert.equal(result.error.code, 'unknown_provider');
  assert.equal(server.log.filter((entry) => entry.method === 'WS').length, 0);
});

test('an unreachable server is a ConnectionError after the reconnect attempts', async () => {
  const server = await fakeServer();
  const url = server.url;
  await server.close();
  const bus = new EventBus();
  const { of } = record(bus);
  const result = await new StreamingEngine(bus).start(
    { url, reconnectDelay: 1, maxReconnectAttempts: 2 },
    chat(),
  );
  assert.equal(result.reason, 'error');
  assert.ok(result.error instanceof ConnectionError, String(result.error));
  assert.equal(of('stream-reconnect').length, 2);
  assert.deepEqual(of('stream-end').map((p) => p.reason), ['error']);
});

test('a stream unknown on resume ends with the server error', async (t) => {
  const server = await fakeServer({ delay: 10 });
  t.after(() => server.close());
  const bus = new EventBus();
  const engine = new StreamingEngine(bus);
  bus.on('stream-data', ({ payload }) => {
    if (payload.token === 'one') {
      server.streams.clear(); // expired on the server
      engine.reconnect();
    }
  });
  const result = await engine.start({ url: server.url, reconnectDelay: 1 }, chat());
  assert.equal(result.reason, 'error');
  assert.equal(result.error.code, 'stream_not_found');
  assert.equal(result.error.status, 404);
});

test('stream() is an async iterator; leaving it early cancels on the server', async (t) => {
  const server = await fakeServer({ delay: 10 });
  t.after(() => server.close());
  const engine = new StreamingEngine();
  const types = [];
  for await (const item of engine.stream({ url: server.url, method: 'WS' }, chat())) {
    types.push(item.event.type);
    if (types.length === 3) break;
  }
  assert.deepEqual(types, ['metadata', 'token', 'token']);
  assert.equal(engine.isActive(), false);
  assert.equal(engine.lastResult.reason, 'aborted');
  await until(() => server.cancels.length === 1, 'the cancel');
  assert.equal(server.streams.get('s_1').cancelled, true);
});

test('stop() while the request is in flight still cancels the run on the server', async (t) => {
  const server = await fakeServer({ delay: 20 });
  t.after(() => server.close());
  let release;
  const gate = new Promise((resolve) => {
    release = resolve;
  });
  // A fetch whose response is held back until the test has called stop().
  const fetch = async (...args) => {
    const response = await globalThis.fetch(...args);
    if (args[1]?.method === 'POST') await gate;
    return response;
  };
  const engine = new StreamingEngine(new EventBus(), { fetch });
  const running = engine.start(server.url, chat());
  await until(() => server.streams.size === 1, 'the run');
  engine.stop();
  release();
  assert.equal((await running).reason, 'aborted');
  await until(() => server.cancels.length === 1, 'the cancel');
  assert.equal(server.streams.get('s_1').cancelled, true);
});
