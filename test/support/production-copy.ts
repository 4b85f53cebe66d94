/**
 * A copy of kubestation as it is shipped, installed with its production
 * dependencies only (`npm ci --omit=dev`), for tests that run the product
 * the way a user's install has it: package.json, package-lock.json, every
 * entry of package.json's "files", and a compiled dist/.
 */
import { execa } from 'execa';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

/** Copies what a clone ships into `dest`; dist/ comes from `dist` when given (else it is left out). */
export async function copyShipped(dest: string, options: { dist?: string } = {}): Promise<void> {
  const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { files: string[] };
  await mkdir(dest, { recursive: true });
  for (const entry of ['package.json', 'package-lock.json', ...pkg.files.filter((f) => f !== 'dist')])
    await cp(path.join(repoRoot, entry), path.join(dest, entry), { recursive: true });
  if (options.dist) await cp(options.dist, path.join(dest, 'dist'), { recursive: true });
}

/**
 * Compiles tsconfig.build.json's sources into `<dest>/dist` file by file
 * (`ts.transpileModule`, a second or two instead of a full `tsc` build). The
 * output is what `npm run build` emits because tsconfig.json sets
 * isolatedModules: no file's JavaScript depends on another file's types.
 */
export async function transpileDist(dest: string): Promise<void> {
  const configFile = path.join(repoRoot, 'tsconfig.build.json');
  const { config } = ts.readConfigFile(configFile, (file) => ts.sys.readFile(file));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, repoRoot, undefined, configFile);
  if (!parsed.options.isolatedModules)
    throw new Error('transpileDist needs isolatedModules in tsconfig.json');
  // NodeNext takes each file's format from package.json's "type", which transpileModule cannot read: it is
  // "module", so every file is emitted as the ES module NodeNext would make of it.
  const compilerOptions: ts.CompilerOptions = {
    ...parsed.options,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    sourceMap: false,
    declaration: false,
  };
  for (const file of parsed.fileNames) {
    if (file.endsWith('.d.ts')) continue;
    const { outputText } = ts.transpileModule(await readFile(file, 'utf8'), {
      compilerOptions,
      fileName: file,
    });
    const out = path.join(dest, 'dist', path.relative(repoRoot, file)).replace(/\.ts$/, '.js');
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, outputText);
  }
}

/**
 * `npm ci --omit=dev` in `dest`, from npm's cache when it holds every
 * tarball (it does after the project's own `npm ci`), else from the registry.
 * --ignore-scripts: the project's `prepare` (tsc) needs the dev dependencies.
 */
export async function installProductionDependencies(dest: string): Promise<void> {
  await execa(
    'npm',
    [
      'ci',
      '--omit=dev',
      '--prefer-offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
    ],
    { cwd: dest, env: { NODE_ENV: 'production' } },
  );
}
