import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import * as sources from '../src/index.js';
import { OUT_DIR, build } from '../scripts/build.mjs';

test('the file the server serves is what the sources build (npm run build)', () => {
  for (const [name, text] of Object.entries(build())) {
    assert.equal(readFileSync(join(OUT_DIR, name), 'utf8'), text, `${name} is stale: npm run build`);
  }
});

test('the built file exports what src/index.js exports, and runs', async () => {
  const text = build()['client.js'];
  const bundle = await import(`data:text/javascript,${encodeURIComponent(text)}`);
  assert.deepEqual(Object.keys(bundle).sort(), Object.keys(sources).sort());
  const bus = new bundle.EventBus();
  const seen = [];
  bus.on('stream-data', ({ payload }) => seen.push(payload.token));
  bus.emit('stream-data', { token: 'x' });
  assert.deepEqual(seen, ['x']);
});

test("VERSION is the package's version", () => {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(sources.VERSION, version);
});
