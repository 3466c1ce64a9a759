// Builds the CRC32C addon (native/crc32c.c -> build/Release/crc32c.node) with node-gyp.
//
//   node scripts/build-native.mjs            the package's install script (npm ci / npm
//                                            install): never fails the install; without
//                                            the addon, src/protocol/crc32c.ts falls back
//                                            to sse4_crc32, @node-rs/crc32 or JS
//   node scripts/build-native.mjs --prebuild  prepack: build, then copy the addon to
//                                            prebuilds/<platform>-<arch>/ (fails on error)
//   node scripts/build-native.mjs --clean     postpack: remove prebuilds/ again, so a
//                                            checkout never runs a stale copy
//
// Installed as a dependency (under node_modules/) with a prebuilt addon for this
// platform that loads, the install step keeps it and compiles nothing: a consumer
// needs no compiler then. In a checkout it always builds. NVMEOTCP_SKIP_NATIVE=1
// skips the build.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuild = process.argv.includes('--prebuild');
const installed = root.split(/[\\/]/).includes('node_modules');
const platform = `${process.platform}-${process.arch}`;
const built = join(root, 'build', 'Release', 'crc32c.node');
const shipped = join(root, 'prebuilds', platform, 'crc32c.node');
const say = (s) => process.stderr.write(`nvmeotcp: ${s}\n`);

/** The addon's own name for the code it runs ('pclmul', 'sse4.2', 'table'), or undefined. */
function probe(path) {
  try {
    return createRequire(import.meta.url)(path).implementation;
  } catch {
    return undefined;
  }
}

/** node-gyp: the copy npm bundles (npm points npm_config_node_gyp at it), else the one on PATH. */
function nodeGyp(args) {
  const gyp = process.env.npm_config_node_gyp;
  const [cmd, ...pre] = gyp ? [process.execPath, gyp] : ['node-gyp'];
  // Offline machines: the headers of the running node, when its prefix has them
  // (Debian's nodejs in /usr, official tarballs), save node-gyp a download.
  const prefix = dirname(dirname(process.execPath));
  const nodedir =
    !process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
  return spawnSync(cmd, [...pre, ...args, ...nodedir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function build() {
  const r = nodeGyp(['rebuild']);
  if (r.error === undefined && r.status === 0 && probe(built) !== undefined) return undefined;
  const noise = /^gyp (info|ERR! (stack|System|command|cwd|node -v|node-gyp -v|\$npm|not ok))/;
  const log = `${r.stdout ?? ''}${r.stderr ?? ''}`
    .split('\n')
    .filter((l) => l.trim() !== '' && !noise.test(l))
    .slice(-15)
    .join('\n');
  return r.error ? `${r.error.message}` : `node-gyp rebuild exited with ${r.status}\n${log}`;
}

if (process.argv.includes('--clean')) {
  rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
} else if (process.env.NVMEOTCP_SKIP_NATIVE) {
  say('NVMEOTCP_SKIP_NATIVE is set: CRC32C addon not built');
} else if (installed && probe(shipped) !== undefined) {
  say(`CRC32C addon: using the prebuilt ${platform} binary (${probe(shipped)})`);
} else {
  const failure = build();
  if (failure === undefined) {
    say(`CRC32C addon built (${probe(built)}): build/Release/crc32c.node`);
    if (prebuild) {
      mkdirSync(dirname(shipped), { recursive: true });
      copyFileSync(built, shipped);
      say(`CRC32C addon copied to prebuilds/${platform}/crc32c.node`);
    }
  } else if (prebuild) {
    say(`CRC32C addon: build failed, not packing without it:\n${failure}`);
    process.exitCode = 1;
  } else {
    say(`CRC32C addon not built (${failure.split('\n', 1)[0]}); digests fall back to sse4_crc32, @node-rs/crc32 or JS (slower).`);
    say(`node-gyp said:\n${failure.split('\n').slice(1).join('\n')}`);
    say(
      'It needs a C compiler, make, python3 and the Node headers (set npm_config_nodedir offline); then `npm run build:native` here, or `npm rebuild nvmeotcp` in a project that depends on it.',
    );
  }
}
