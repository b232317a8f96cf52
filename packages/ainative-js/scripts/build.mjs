// Builds the client as one ES module for the server to serve at /ai/client.js, with its
// types beside it: each module of src/ becomes a function scope (dependencies first) whose
// imports are read from the scopes before it, and the file exports what src/index.js
// exports. No dependencies.
//
//   node scripts/build.mjs           write the files
//   node scripts/build.mjs --check   exit 1 if the written files are not what src/ builds

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const src = join(root, 'src');
export const OUT_DIR = join(root, '..', 'ainative-server', 'src', 'ainative_server', 'static');

const IMPORT = /^import\s*\{([^}]*)\}\s*from\s*'\.\/([\w-]+\.js)';\n/gm;
const REEXPORT = /^export\s*\{([^}]*)\}\s*from\s*'\.\/([\w-]+\.js)';\n/gm;
const DECLARATION = /^export (?=(?:async )?function |class |const |let )/gm;
const DECLARED = /^export (?:async )?(?:function\*?|class|const|let) (\w+)/gm;

function scope(name) {
  return `__${name.replace(/\.js$/, '').replace(/\W/g, '_')}`;
}

function names(list) {
  return list.split(',').map((item) => item.trim()).filter(Boolean);
}

function read(name) {
  return readFileSync(join(src, name), 'utf8');
}

/** The modules index.js re-exports from, and those they import, dependencies first. */
function moduleOrder(index) {
  const order = [];
  const visiting = new Set();
  const visit = (name) => {
    if (order.includes(name)) return;
    if (visiting.has(name)) throw new Error(`import cycle through ${name}`);
    visiting.add(name);
    for (const match of read(name).matchAll(IMPORT)) visit(match[2]);
    visiting.delete(name);
    order.push(name);
  };
  for (const match of index.matchAll(REEXPORT)) visit(match[2]);
  return order;
}

/** `{'client.js': text, 'client.d.ts': text}`: what the build writes. */
export function build() {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const index = read('index.js');
  const parts = [
    `// ainative ${version}: the JavaScript client as one ES module, built from`,
    '// packages/ainative-js/src by scripts/build.mjs (edit the sources, not this file).',
    '',
  ];
  for (const name of moduleOrder(index)) {
    const text = read(name);
    const exported = [...text.matchAll(DECLARED)].map((match) => match[1]);
    const body = text
      .replace(IMPORT, (_, list, from) => `const { ${names(list).join(', ')} } = ${scope(from)};\n`)
      .replace(DECLARATION, '')
      .trim();
    parts.push(`// -- ${name} ${'-'.repeat(Math.max(0, 84 - name.length))}`, '');
    parts.push(`const ${scope(name)} = (() => {`, body, `return { ${exported.join(', ')} };`, '})();', '');
  }
  const public_ = [];
  const bindings = [];
  for (const match of index.matchAll(REEXPORT)) {
    bindings.push(`const { ${names(match[1]).join(', ')} } = ${scope(match[2])};`);
    public_.push(...names(match[1]));
  }
  const own = index.replace(REEXPORT, '');
  public_.push(...[...own.matchAll(DECLARED)].map((match) => match[1]));
  parts.push('// -- index.js ' + '-'.repeat(76), '');
  parts.push(...bindings, own.replace(DECLARATION, '').trim(), '');
  parts.push(`export {\n${public_.sort().map((name) => `  ${name},`).join('\n')}\n};`, '');
  return {
    'client.js': parts.join('\n'),
    'client.d.ts': read('index.d.ts'),
  };
}

function main() {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [name, text] of Object.entries(build())) {
    const path = join(OUT_DIR, name);
    if (check) {
      let current = null;
      try {
        current = readFileSync(path, 'utf8');
      } catch {
        // missing: stale
      }
      if (current !== text) {
        console.error(`${path} is not what src/ builds: run npm run build`);
        stale += 1;
      }
    } else {
      writeFileSync(path, text);
      console.log(`wrote ${path}`);
    }
  }
  process.exitCode = stale ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
