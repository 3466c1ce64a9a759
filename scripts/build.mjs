// Compiles src/ to dist/ (npm run build; `prepare` and `prepack` run it): ESM
// JavaScript, .d.ts and source maps, as tsconfig.build.json says.
//
// The sources import each other with `.ts` extensions. TypeScript rewrites them to
// `.js` in the JavaScript it emits (rewriteRelativeImportExtensions) but leaves them
// as they are in declaration files; a transformer here rewrites those too, so the
// published .d.ts files name the files that are actually there. dist/ is removed
// first: a source file that was deleted leaves nothing behind.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const configPath = join(root, 'tsconfig.build.json');

const host = {
  getCanonicalFileName: (f) => f,
  getCurrentDirectory: () => root,
  getNewLine: () => '\n',
};

function fail(diagnostics) {
  process.stderr.write(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
  process.stderr.write(`nvmeotcp build: ${diagnostics.length} error(s), dist/ not written\n`);
  process.exit(1);
}

/** './x.ts' -> './x.js' for a relative specifier; anything else unchanged (undefined). */
function rewritten(specifier) {
  if (!/^\.\.?\//.test(specifier)) return undefined;
  const m = /\.([cm]?)ts$/.exec(specifier);
  if (m === null || specifier.endsWith('.d.ts')) return undefined;
  return `${specifier.slice(0, -m[0].length)}.${m[1]}js`;
}

/** Declaration transformer: relative `.ts` specifiers in import/export declarations and import('…') types. */
function rewriteDeclarationSpecifiers(context) {
  const f = context.factory;
  const literal = (node) => {
    if (node === undefined || !ts.isStringLiteral(node)) return undefined;
    const to = rewritten(node.text);
    return to === undefined ? undefined : f.createStringLiteral(to);
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node)) {
      const s = literal(node.moduleSpecifier);
      if (s) return f.updateImportDeclaration(node, node.modifiers, node.importClause, s, node.attributes);
    } else if (ts.isExportDeclaration(node)) {
      const s = literal(node.moduleSpecifier);
      if (s) return f.updateExportDeclaration(node, node.modifiers, node.isTypeOnly, node.exportClause, s, node.attributes);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const s = literal(node.argument.literal);
      if (s) {
        const arg = f.updateLiteralTypeNode(node.argument, s);
        return f.updateImportTypeNode(node, arg, node.attributes, node.qualifier, node.typeArguments, node.isTypeOf);
      }
    }
    return ts.visitEachChild(node, visit, context);
  };
  return (file) => (ts.isSourceFile(file) ? ts.visitEachChild(file, visit, context) : file);
}

const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => fail([d]) });
if (config === undefined) process.exit(1);
if (config.errors.length > 0) fail(config.errors);

const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
const before = ts.getPreEmitDiagnostics(program);
if (before.length > 0) fail(before);

rmSync(config.options.outDir, { recursive: true, force: true });
const result = program.emit(undefined, undefined, undefined, false, { afterDeclarations: [rewriteDeclarationSpecifiers] });
if (result.diagnostics.length > 0) fail(result.diagnostics);
process.stderr.write(`nvmeotcp build: ${config.fileNames.length} files compiled to dist/\n`);
