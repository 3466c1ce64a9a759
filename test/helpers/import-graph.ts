// The import graph of src/, for the layer test (test/unit/layers.test.ts): every
// module reference a file makes — `import`, `import type`, side-effect imports,
// `export ... from`, `export type ... from`, dynamic `import()`, `import('x').T` in a
// type, `require()` — read with the TypeScript parser, so comments and strings
// never count. Relative specifiers are resolved to repository paths; the package's
// own name resolves to src/index.ts; anything else (node:*, dependencies) is not an
// edge of the graph.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface ImportRef {
  /** The specifier as written. */
  spec: string;
  /** 1-based line of the reference. */
  line: number;
  /** Erased at run time: `import type`, `export type`, `import('x').T`. */
  typeOnly: boolean;
  /** A dynamic import() or require() whose argument is not a string literal. */
  computed?: true;
}

export interface Edge {
  /** Repository path of the importing file (posix, e.g. src/host/queue.ts). */
  from: string;
  /** Repository path of the imported file. */
  to: string;
  spec: string;
  line: number;
  typeOnly: boolean;
}

/** Every module reference in one source text. */
export function parseImports(fileName: string, text: string): ImportRef[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: ImportRef[] = [];
  const lineOf = (n: ts.Node): number => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const add = (spec: ts.Expression | undefined, at: ts.Node, typeOnly: boolean): void => {
    if (spec !== undefined && ts.isStringLiteralLike(spec)) out.push({ spec: spec.text, line: lineOf(at), typeOnly });
    else out.push({ spec: spec === undefined ? '' : spec.getText(sf), line: lineOf(at), typeOnly, computed: true });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n)) {
      add(n.moduleSpecifier, n, n.importClause?.isTypeOnly === true);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier !== undefined) {
      add(n.moduleSpecifier, n, n.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      add(n.moduleReference.expression, n, n.isTypeOnly);
    } else if (ts.isImportTypeNode(n)) {
      const arg = n.argument;
      if (ts.isLiteralTypeNode(arg)) add(arg.literal as ts.Expression, n, true);
    } else if (ts.isCallExpression(n)) {
      const callee = n.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      if (isImport || isRequire) add(n.arguments[0], n, false);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Where a specifier written in `from` leads: a repository path, or undefined for node:* and dependencies. */
export function resolveSpec(from: string, spec: string, packageName: string): string | undefined {
  if (spec.startsWith('./') || spec.startsWith('../')) return path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  if (spec === packageName) return 'src/index.ts';
  if (spec.startsWith(`${packageName}/`)) return `src/${spec.slice(packageName.length + 1)}`;
  return undefined;
}

const SOURCE = /\.(?:[cm]?ts|[cm]?js)$/;

/** Repository paths of every source file under `dir` (relative to `root`), sorted. */
export function sourceFiles(root: string, dir: string): string[] {
  return (readdirSync(path.join(root, dir), { recursive: true }) as string[])
    .map((f) => path.posix.join(dir, f.split(path.sep).join('/')))
    .filter((f) => SOURCE.test(f) && !f.endsWith('.d.ts'))
    .sort();
}

export interface Graph {
  files: string[];
  edges: Edge[];
  /** References that cannot be checked (computed dynamic imports), as "file:line spec". */
  unresolvable: string[];
}

/** The import graph of every source file under `dir`. */
export function importGraph(root: string, dir: string, packageName: string): Graph {
  const files = sourceFiles(root, dir);
  const edges: Edge[] = [];
  const unresolvable: string[] = [];
  for (const from of files) {
    for (const r of parseImports(from, readFileSync(path.join(root, from), 'utf8'))) {
      if (r.computed) {
        unresolvable.push(`${from}:${r.line} ${r.spec}`);
        continue;
      }
      const to = resolveSpec(from, r.spec, packageName);
      if (to !== undefined) edges.push({ from, to, spec: r.spec, line: r.line, typeOnly: r.typeOnly });
    }
  }
  return { files, edges, unresolvable };
}

/** `from -> to`, the form the allowlists use. */
export const edgeKey = (e: { from: string; to: string }): string => `${e.from} -> ${e.to}`;

/**
 * Strongly connected components with more than one file (or a file importing
 * itself): every import cycle lies inside one. Each comes with one concrete cycle
 * through its first file, for the error message.
 */
export function importCycles(edges: readonly Edge[]): { files: string[]; example: string[] }[] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    const l = next.get(e.from);
    if (l === undefined) next.set(e.from, [e.to]);
    else if (!l.includes(e.to)) l.push(e.to);
  }
  // Tarjan's algorithm, iterative (no recursion limit on long chains).
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const comps: string[][] = [];
  let counter = 0;
  for (const root of [...next.keys()].sort()) {
    if (index.has(root)) continue;
    const work: { v: string; i: number }[] = [{ v: root, i: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const succ = next.get(top.v) ?? [];
      if (top.i < succ.length) {
        const w = succ[top.i++];
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ v: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(top.v, Math.min(low.get(top.v)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].v;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.v)!));
      }
      if (low.get(top.v) === index.get(top.v)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.v);
        const selfLoop = comp.length === 1 && (next.get(comp[0]) ?? []).includes(comp[0]);
        if (comp.length > 1 || selfLoop) comps.push(comp.sort());
      }
    }
  }
  return comps.map((files) => ({ files, example: cycleThrough(files[0], new Set(files), next) }));
}

/** A shortest cycle start -> ... -> start inside one component (breadth first). */
function cycleThrough(start: string, inComp: Set<string>, next: Map<string, string[]>): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  for (let k = 0; k < queue.length; k++) {
    const v = queue[k];
    for (const w of next.get(v) ?? []) {
      if (!inComp.has(w)) continue;
      if (w === start) {
        const back: string[] = [];
        for (let u = v; u !== start; u = prev.get(u)!) back.push(u);
        return [start, ...back.reverse(), start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}
