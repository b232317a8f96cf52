import assert from 'node:assert/strict';
import { test } from 'node:test';

import { EventBus } from '../src/index.js';

test('on, off, once and onAll deliver the seed event shape', () => {
  const bus = new EventBus();
  const seen = [];
  const stop = bus.on('stream-data', (event) => seen.push(['on', event.type, event.payload.token]));
  bus.once('stream-data', (event) => seen.push(['once', event.payload.token]));
  bus.onAll((event) => seen.push(['all', event.type]));
  bus.emit('stream-data', { token: 'a' });
  stop();
  bus.emit('stream-data', { token: 'b' });
  assert.deepEqual(seen, [
    ['on', 'stream-data', 'a'],
    ['once', 'a'],
    ['all', 'stream-data'],
    ['all', 'stream-data'],
  ]);
  const [event] = bus.getHistory();
  assert.equal(typeof event.timestamp, 'number');
  assert.equal(typeof event.id, 'string');
});

test('history keeps the last 100 events', () => {
  const bus = new EventBus();
  for (let i = 0; i < 150; i += 1) bus.emit('stream-data', { token: String(i) });
  const history = bus.history;
  assert.equal(history.length, 100);
  assert.equal(history[0].payload.token, '50');
  assert.equal(history.at(-1).payload.token, '149');
});

test('a failing listener does not keep the event from the others', (t) => {
  const bus = new EventBus();
  const reported = [];
  t.mock.method(console, 'error', (error) => reported.push(error.message));
  const seen = [];
  bus.on('stream-end', () => {
    throw new Error('listener bug');
  });
  bus.on('stream-end', (event) => seen.push(event.payload.reason));
  bus.emit('stream-end', { reason: 'complete' });
  assert.deepEqual(seen, ['complete']);
  assert.deepEqual(reported, ['listener bug']);
});

test('clear removes the listeners of one type, or all', () => {
  const bus = new EventBus();
  const seen = [];
  bus.on('a', () => seen.push('a'));
  bus.on('b', () => seen.push('b'));
  bus.onAll(() => seen.push('all'));
  bus.clear('a');
  bus.emit('a', {});
  bus.clear();
  bus.emit('b', {});
  assert.deepEqual(seen, ['all']);
});

test('subscribe gives the chosen events as an async iterator', async () => {
  const bus = new EventBus();
  const events = bus.subscribe('stream-data', 'stream-end');
  bus.emit('stream-start', {});
  bus.emit('stream-data', { token: 'x' });
  setTimeout(() => bus.emit('stream-end', { reason: 'complete' }), 1);
  const types = [];
  for await (const event of events) {
    types.push(event.type);
    if (event.type === 'stream-end') break;
  }
  assert.deepEqual(types, ['stream-data', 'stream-end']);
  bus.emit('stream-data', { token: 'after' }); // no longer queued anywhere
});
