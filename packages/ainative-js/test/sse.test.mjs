import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SSEDecoder } from '../src/index.js';

test('events split anywhere decode the same', () => {
  const text = 'retry: 1000\nid: 1\ndata: {"a":1}\n\n: ping\n\nid: 2\ndata: x\ndata: y\n\ndata: [DONE]\n\n';
  const whole = new SSEDecoder().feed(text);
  assert.deepEqual(whole, [
    { data: '{"a":1}', id: '1' },
    { data: 'x\ny', id: '2' },
    { data: '[DONE]', id: '2' },
  ]);
  for (let cut = 1; cut < text.length; cut += 1) {
    const decoder = new SSEDecoder();
    assert.deepEqual([...decoder.feed(text.slice(0, cut)), ...decoder.feed(text.slice(cut))], whole);
  }
});

test('CRLF and CR line ends, a field without a space, and an id with NUL', () => {
  const decoder = new SSEDecoder();
  assert.deepEqual(decoder.feed('id:7\r\ndata:a\r'), []);
  assert.deepEqual(decoder.feed('\n\r\nid: 8\0\rdata: b\r\r'), [
    { data: 'a', id: '7' },
    { data: 'b', id: '7' },
  ]);
});
