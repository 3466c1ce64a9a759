// The layer rule, enforced: docs/ARCHITECTURE.md ("Layers") has the table of which
// folder of src/ may import which; this test reads that table and checks every
// module reference in src/ against it (types included), and that no import cycle
// runs between files. An upward import fails `npm test` with the file, the line
// and the edge.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Edge, edgeKey, importCycles, importGraph, parseImports, resolveSpec } from '../helpers/import-graph.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = 'docs/ARCHITECTURE.md';
const PACKAGE = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { name: string }).name;

/**
 * Known violations, each an exact `file -> file` edge mapped to the change that
 * removes it. They are tolerated until that change lands; an entry whose edge no
 * longer exists fails the test, so delete it then. Add nothing here: fix the import.
 * (Empty: the last ones, transport/reader.ts -> offload for RxPlacement and
 * allocIoBuffer, went when both moved into transport.)
 */
const KNOWN_UPWARD: ReadonlyMap<string, string> = new Map();

/**
 * Known import cycles between files (type-only ones; a run-time cycle is never
 * tolerated). Each must match a cycle of the graph exactly: when the cycle shrinks
 * or goes, the test says so, and the entry is updated or deleted.
 */
const KNOWN_CYCLES: readonly { files: readonly string[]; why: string }[] = [
  {
    // The queue contract (CmdQueue.ctrl is a Controller), the controller (it holds
    // its CmdQueues and reaches the TargetContext) and the context (it registers
    // controllers and is told about queues) name each other's types. Breaking it
    // needs a narrow interface of the controller for cmd.ts and context.ts.
    why: 'CmdQueue, Controller and TargetContext name each other',
    files: ['src/target/cmd.ts', 'src/target/context.ts', 'src/target/controller.ts'],
  },
];

// ------------------------------------------------------------ the rule, from the doc

type Rule = ReadonlyMap<string, ReadonlySet<string>>;

/** The "| `folder/` | owns | may import |" table of docs/ARCHITECTURE.md: layer -> layers it may import. */
function readRule(md: string): Rule {
  const lines = md.split('\n');
  const head = lines.findIndex((l) => /^\|\s*Layer\s*\|.*\|\s*May import\s*\|\s*$/.test(l));
  if (head < 0) throw new Error(`${DOC}: no "| Layer | ... | May import |" table`);
  const rule = new Map<string, Set<string>>();
  for (const row of lines.slice(head + 2)) {
    if (!row.startsWith('|')) break;
    const cells = row.split('|').slice(1, -1);
    const ticks = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1].replace(/\/$/, ''));
    const [layer] = ticks(cells[0]);
    if (layer === undefined) throw new Error(`${DOC}: layer table row without a \`folder/\`: ${row}`);
    if (rule.has(layer)) throw new Error(`${DOC}: layer ${layer} has two rows`);
    rule.set(layer, new Set(ticks(cells[cells.length - 1])));
  }
  return rule;
}

/** src/host/queue.ts -> host; src/index.ts -> index.ts; a file elsewhere -> undefined. */
function layerOf(file: string): string | undefined {
  if (file === 'src/index.ts') return 'index.ts';
  const m = /^src\/([^/]+)\/./.exec(file);
  return m?.[1];
}

/** One line per edge the rule does not allow (and per stale allowlist entry). */
function layerViolations(edges: readonly Edge[], rule: Rule, known: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  const used = new Set<string>();
  for (const e of edges) {
    const a = layerOf(e.from);
    const b = layerOf(e.to);
    const where = `${e.from}:${e.line} imports ${e.to} ('${e.spec}'${e.typeOnly ? ', type only' : ''})`;
    if (a === undefined || !rule.has(a)) {
      out.push(`${e.from}: not in a layer of ${DOC}`);
      continue;
    }
    if (b === undefined) {
      out.push(`${where}: outside the layers of src/`);
      continue;
    }
    if (a === b || rule.get(a)!.has(b)) continue;
    if (known.has(edgeKey(e))) {
      used.add(edgeKey(e));
      continue;
    }
    const may = [...rule.get(a)!].join(', ') || 'nothing in the project';
    out.push(`${where}: ${a} -> ${b} is not allowed (${a} may import: ${may})`);
  }
  for (const k of known.keys()) if (!used.has(k)) out.push(`KNOWN_UPWARD entry "${k}" no longer occurs: delete it`);
  return [...new Set(out)];
}

/** The cycle of the rule itself, if its "may import" relation has one. */
function ruleCycle(rule: Rule): string[] | undefined {
  const edges = [...rule].flatMap(([a, bs]) => [...bs].map((b) => ({ from: a, to: b, spec: b, line: 0, typeOnly: false })));
  return importCycles(edges)[0]?.example;
}

function fail(title: string, lines: readonly string[]): void {
  if (lines.length > 0) assert.fail(`${title}:\n  ${lines.join('\n  ')}`);
}

const RULE = readRule(readFileSync(`${ROOT}${DOC}`, 'utf8'));
const GRAPH = importGraph(ROOT, 'src', PACKAGE);

// ------------------------------------------------------------ the checks

test('layers - the table in docs/ARCHITECTURE.md names every folder of src/ once and has no cycle', () => {
  const folders = new Set(GRAPH.files.map((f) => layerOf(f) ?? f));
  const missing = [...folders].filter((f) => !RULE.has(f));
  fail(`files or folders of src/ that ${DOC} does not list`, missing);
  const unknown = [...RULE].flatMap(([a, bs]) => [...bs].filter((b) => !RULE.has(b)).map((b) => `${a} -> ${b}`));
  fail(`${DOC} allows imports of layers it does not list`, unknown);
  const cycle = ruleCycle(RULE);
  fail(`${DOC} lets layers import each other`, cycle === undefined ? [] : [cycle.join(' -> ')]);
  for (const [layer, may] of RULE) assert.ok(!may.has(layer), `${layer} lists itself`);
});

test('layers - every import in src/ goes to its own layer or one its layer may import', () => {
  // The graph is the real one: spot-check one value edge and one type-only edge.
  const keys = new Set(GRAPH.edges.map(edgeKey));
  assert.ok(keys.has('src/host/controller.ts -> src/protocol/constants.ts'));
  assert.ok(GRAPH.edges.some((e) => e.typeOnly && edgeKey(e) === 'src/target/context.ts -> src/target/controller.ts'));
  fail('module references that cannot be checked (computed import())', GRAPH.unresolvable);
  fail(`imports against the layer rule (${DOC}, "Layers")`, layerViolations(GRAPH.edges, RULE, KNOWN_UPWARD));
});

test('layers - no import cycle between folders', () => {
  const folderEdges = GRAPH.edges
    .map((e) => ({ ...e, from: layerOf(e.from) ?? e.from, to: layerOf(e.to) ?? e.to }))
    .filter((e) => e.from !== e.to);
  fail(
    'folders importing each other',
    importCycles(folderEdges).map((c) => c.example.join(' -> ')),
  );
});

test('layers - no run-time import cycle between files', () => {
  const runtime = GRAPH.edges.filter((e) => !e.typeOnly);
  fail(
    'run-time import cycles',
    importCycles(runtime).map((c) => c.example.join(' -> ')),
  );
});

test('layers - no import cycle between files, types included, beyond the known ones', () => {
  const found = importCycles(GRAPH.edges);
  const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((f, i) => f === b[i]);
  const problems: string[] = [];
  for (const c of found) {
    if (KNOWN_CYCLES.some((k) => same(k.files, c.files))) continue;
    const near = KNOWN_CYCLES.find((k) => k.files.some((f) => c.files.includes(f)));
    const note = near === undefined ? '' : ` (KNOWN_CYCLES has ${near.files.length} files for it: update the entry)`;
    problems.push(`${c.example.join(' -> ')}; the cycle spans ${c.files.join(', ')}${note}`);
  }
  for (const k of KNOWN_CYCLES) {
    if (!found.some((c) => k.files.some((f) => c.files.includes(f)))) {
      problems.push(`KNOWN_CYCLES entry "${k.why}" no longer occurs: delete it`);
    }
  }
  fail('import cycles between files', problems);
});

// ------------------------------------------------------------ the checker checks itself

test('layers - the parser sees every form of module reference and nothing in comments or strings', () => {
  const src = [
    "import a from './a.ts';",
    "import type { B } from './b.ts';",
    "import { type C, d } from './c.ts';",
    "import './side-effect.ts';",
    "export { e } from './e.ts';",
    "export type { F } from './f.ts';",
    "export * from './g.ts';",
    "const h = await import('./h.ts');",
    "type I = import('./i.ts').I;",
    "const j = require('./j.cjs');",
    'const k = await import(name);',
    "// import z from './in-a-comment.ts';",
    'const s = "import y from \'./in-a-string.ts\'";',
  ].join('\n');
  const refs = parseImports('src/x/m.ts', src).map((r) => `${r.line} ${r.spec}${r.typeOnly ? ' type' : ''}${r.computed ? ' ?' : ''}`);
  assert.deepEqual(refs, [
    '1 ./a.ts',
    '2 ./b.ts type',
    '3 ./c.ts',
    '4 ./side-effect.ts',
    '5 ./e.ts',
    '6 ./f.ts type',
    '7 ./g.ts',
    '8 ./h.ts',
    '9 ./i.ts type',
    '10 ./j.cjs',
    '11 name ?',
  ]);
  assert.equal(resolveSpec('src/cli/commands/x.ts', '../../host/queue.ts', PACKAGE), 'src/host/queue.ts');
  assert.equal(resolveSpec('src/cli/x.ts', PACKAGE, PACKAGE), 'src/index.ts');
  assert.equal(resolveSpec('src/cli/x.ts', 'node:net', PACKAGE), undefined);
  assert.equal(resolveSpec('src/cli/x.ts', 'commander', PACKAGE), undefined);
});

test('layers - an upward import is reported with its file, line and edge; stale allowlist entries too', () => {
  const edge = (from: string, to: string, line = 3): Edge => ({ from, to, spec: to, line, typeOnly: false });
  const v = layerViolations(
    [
      edge('src/protocol/pdu.ts', 'src/host/queue.ts', 7),
      edge('src/host/queue.ts', 'src/protocol/pdu.ts'),
      edge('src/host/queue.ts', 'src/host/request.ts'),
      edge('src/cli/main.ts', 'src/index.ts'),
      edge('src/cli/main.ts', 'src/host/controller.ts', 9),
      edge('src/stats/registry.ts', 'test/helpers/hex.ts', 2),
      edge('src/transport/reader.ts', 'src/offload/types.ts'),
    ],
    RULE,
    new Map([
      ['src/transport/reader.ts -> src/offload/types.ts', 'tolerated'],
      ['src/transport/reader.ts -> src/offload/io-buffer.ts', 'gone'],
    ]),
  );
  assert.deepEqual(v, [
    "src/protocol/pdu.ts:7 imports src/host/queue.ts ('src/host/queue.ts'): protocol -> host is not allowed (protocol may import: nothing in the project)",
    "src/cli/main.ts:9 imports src/host/controller.ts ('src/host/controller.ts'): cli -> host is not allowed (cli may import: index.ts)",
    "src/stats/registry.ts:2 imports test/helpers/hex.ts ('test/helpers/hex.ts'): outside the layers of src/",
    'KNOWN_UPWARD entry "src/transport/reader.ts -> src/offload/io-buffer.ts" no longer occurs: delete it',
  ]);
});

test('layers - cycles are found with a concrete path, and a chain without one is not', () => {
  const edge = (from: string, to: string): Edge => ({ from, to, spec: to, line: 1, typeOnly: false });
  const c = importCycles([edge('a', 'b'), edge('b', 'c'), edge('c', 'a'), edge('c', 'd'), edge('d', 'd'), edge('e', 'a')]);
  assert.deepEqual(
    c.map((x) => [x.files, x.example]),
    [
      [['d'], ['d', 'd']],
      [
        ['a', 'b', 'c'],
        ['a', 'b', 'c', 'a'],
      ],
    ],
  );
  assert.deepEqual(importCycles([edge('a', 'b'), edge('b', 'c'), edge('a', 'c')]), []);
  assert.equal(
    ruleCycle(
      new Map([
        ['x', new Set(['y'])],
        ['y', new Set(['x'])],
      ]),
    )?.join(' -> '),
    'x -> y -> x',
  );
});
