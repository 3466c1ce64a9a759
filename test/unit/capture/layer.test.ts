// src/capture/ sits beside the protocol codec: it may import node builtins, its own
// files and src/protocol/, nothing else (no host, target, offload, transport or cli).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../../../src/capture/', import.meta.url));

test('capture - imports only node builtins, its own files and src/protocol/', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 8);
  for (const f of files) {
    const src = readFileSync(join(DIR, f), 'utf8');
    const specs = [...src.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1]);
    assert.ok(specs.length > 0, `${f}: no imports found`);
    for (const s of specs) {
      assert.ok(s.startsWith('node:') || /^\.\/[\w-]+\.ts$/.test(s) || /^\.\.\/protocol\/[\w-]+\.ts$/.test(s), `${f} imports ${s}`);
    }
  }
});
