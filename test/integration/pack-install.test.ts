// The package as its users get it. `npm pack` runs in a copy of the checkout (the
// files git tracks or would track, with node_modules linked), so its prepack build
// never rewrites the dist/ and build/ that the other test files are running; then the
// tarball is installed into a fresh plain-JavaScript project and a fresh TypeScript
// project (strict, no skipLibCheck), and each runs the library example of README.md,
// taken from the README itself so the two cannot drift. No tsx anywhere: Node runs
// the JavaScript, tsc compiles the TypeScript. Dependencies come from the registry
// (or npm's cache), as they do for a user.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from './cli-helpers.ts';

/** A step that has not ended after this long is killed: a hang, not a slow run. */
const HANG_GUARD_MS = 480_000;
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
};

/** The environment of every step: ours, without what an enclosing `npm test` or a forced CRC32C would add. */
const ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k === 'npm_config_nodedir' || !(k.startsWith('npm_') || k.startsWith('NVMEOTCP_'))),
);

/** Runs `file args` in `cwd`; resolves with stdout, rejects with the command, its exit and the tail of its output. */
function run(file: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env: ENV, timeout: HANG_GUARD_MS, maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
      if (e === null) return resolve(stdout);
      const tail = (s: string) => s.trimEnd().split('\n').slice(-40).join('\n');
      reject(new Error(`${file} ${args.join(' ')} (in ${cwd}): ${e.message.split('\n', 1)[0]}\n${tail(stderr)}\n${tail(stdout)}`));
    });
  });
}

const npm = (args: readonly string[], cwd: string) => run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=warn'], cwd);

/** The first ```js block under "## The library" in README.md. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /^## The library\n[\s\S]*?^```js\n([\s\S]*?)^```$/m.exec(readme);
  assert.ok(m, 'README.md has a ```js block under "## The library"');
  assert.match(m[1]!, /from 'nvmeotcp'/);
  return m[1]!;
}

/** What the example prints, with the prebuilt addon in the tarball loaded in both projects. */
function checkExampleOutput(out: string): void {
  assert.match(out, /^read back what was written$/m);
  assert.match(out, /^digests: native \(/m);
  assert.match(out, /^ +rx_nvmeotcp_ddp_setup: 1$/m);
  assert.match(out, /^ +rx_nvmeotcp_ddp_teardown: 1$/m);
}

/** The packages a project installed (paths in its package-lock.json), for "no tsx, no compiler". */
function installed(project: string): string[] {
  const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  return Object.keys(lock.packages);
}

function assertNoDevTools(project: string, allowed: readonly string[] = []): void {
  for (const name of ['tsx', 'esbuild', 'typescript', '@biomejs/biome'].filter((n) => !allowed.includes(n))) {
    const hits = installed(project).filter((p) => p === `node_modules/${name}` || p.endsWith(`/node_modules/${name}`));
    assert.deepEqual(hits, [], `${name} is installed in the consumer project`);
  }
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

let tmp: string;
let tarball: string;
let packed: string[];

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'nvmeotcp-pack-'));
  const checkout = join(tmp, 'checkout');
  const listed = (await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT)).split('\0');
  for (const f of listed) {
    if (f === '' || !existsSync(join(ROOT, f))) continue; // a tracked file deleted in the worktree
    mkdirSync(dirname(join(checkout, f)), { recursive: true });
    cpSync(join(ROOT, f), join(checkout, f));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir');
  const [info] = JSON.parse(await npm(['pack', '--json', '--pack-destination', tmp], checkout)) as {
    filename: string;
    files: { path: string }[];
  }[];
  assert.ok(info);
  tarball = join(tmp, info.filename);
  packed = info.files.map((f) => f.path);
});

after(() => {
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

describe('pack and install', { concurrency: 2 }, () => {
  test('pack-install - the tarball holds dist/, bin/, the addon and its sources, README and LICENSE, nothing else', () => {
    const top = new Set(packed.map((p) => p.split('/')[0]));
    assert.deepEqual([...top].sort(), [
      'LICENSE',
      'README.md',
      'bin',
      'binding.gyp',
      'dist',
      'native',
      'package.json',
      'prebuilds',
      'scripts',
    ]);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/cli/main.js', 'bin/nvmeotcp.js', 'native/crc32c.c'])
      assert.ok(packed.includes(f), `${f} is in the tarball`);
    assert.ok(packed.includes(`prebuilds/${process.platform}-${process.arch}/crc32c.node`), 'the prebuilt addon for this platform');
    assert.deepEqual(
      packed.filter((p) => p.startsWith('scripts/')),
      ['scripts/build-native.mjs'],
    );
  });

  test('pack-install - a plain JavaScript project runs the README example and the CLI, installed with --ignore-scripts', async (t) => {
    const project = join(tmp, 'js');
    mkdirSync(project);
    t.after(() => rmSync(project, { recursive: true, force: true }));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer-js', private: true, type: 'module' }));
    // No install script runs (ours, sse4_crc32's): the prebuilt addon in the tarball needs none.
    await npm(['install', '--ignore-scripts', tarball], project);
    assert.ok(!existsSync(join(project, 'node_modules/sse4_crc32/build')), 'sse4_crc32 was not compiled: no install script ran');
    assertNoDevTools(project);

    writeFileSync(join(project, 'example.js'), readmeExample());
    checkExampleOutput(await run(process.execPath, ['example.js'], project));
    assert.equal(await run(join(project, 'node_modules/.bin/nvmeotcp'), ['--version'], project), `${PKG.version}\n`);
  });

  test('pack-install - a strict TypeScript project type-checks the README example against the .d.ts files and runs it', async (t) => {
    const project = join(tmp, 'ts');
    mkdirSync(project);
    t.after(() => rmSync(project, { recursive: true, force: true }));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer-ts', private: true, type: 'module' }));
    const tsconfig = {
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', types: ['node'] },
      include: ['example.ts'],
    };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tools = ['typescript', '@types/node'].map((n) => `${n}@${PKG.devDependencies[n]}`);
    // npm's default policy: the install scripts run (npm 11 warns that allowScripts does not cover them).
    await npm(['install', tarball, ...tools], project);
    assertNoDevTools(project, ['typescript']);

    // Every relative specifier in the declarations names a file that is there (.js, not the sources' .ts).
    const dist = join(project, 'node_modules', PKG.name, 'dist');
    for (const f of files(dist).filter((p) => p.endsWith('.d.ts')))
      assert.doesNotMatch(readFileSync(f, 'utf8'), /(from|import\() ?['"]\.\.?\/[^'"]*\.ts['"]/, f);

    writeFileSync(join(project, 'example.ts'), readmeExample());
    await run(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', '.'], project);
    checkExampleOutput(await run(process.execPath, ['out/example.js'], project));
  });
});
