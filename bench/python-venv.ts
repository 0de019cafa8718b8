/**
 * The Python the training baselines run in: .tools/keras-venv, made on first use from the tensorflow-cpu wheel
 * set-up already downloads (Keras 3 on TensorFlow 2.18, CPU) and scikit-learn from PyPI. Null, with a message,
 * where it cannot be made.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..');

export function kerasPython(): string | null {
  const venv = path.join(root, '.tools', 'keras-venv');
  const python = path.join(venv, 'bin', 'python');
  if (fs.existsSync(path.join(venv, '.ready'))) return python;
  // set-up keeps the wheel in the machine's cache, and records where in its state
  const state = JSON.parse(fs.readFileSync(path.join(root, '.tools', 'toolchain-state.json'), 'utf8')) as {
    cacheDir?: string;
  };
  const cache = path.join(state.cacheDir ?? path.join(root, '.tools', 'cache'), 'wheels');
  const wheel = fs.existsSync(cache)
    ? fs
        .readdirSync(cache, { recursive: true })
        .map(String)
        .find((f) => /tensorflow_cpu-[^/]*\.whl$/.test(f))
    : undefined;
  if (!wheel) {
    console.log(`[bench] no tensorflow-cpu wheel under ${cache} (set-up downloads it): run npm run setup`);
    return null;
  }
  console.log('[bench] creating .tools/keras-venv with TensorFlow (Keras 3) and scikit-learn (first run only)');
  if (spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' }).status !== 0) return null;
  const pip = spawnSync(
    path.join(venv, 'bin', 'pip'),
    ['install', '--disable-pip-version-check', '-q', path.join(cache, wheel), 'scikit-learn'],
    { stdio: 'inherit' },
  );
  if (pip.status !== 0) return null;
  fs.writeFileSync(path.join(venv, '.ready'), '');
  return python;
}

/** A Python with scikit-learn alone (for the baselines that need no TensorFlow): .tools/sklearn-venv, made on first use. */
export function sklearnPython(): string | null {
  const venv = path.join(root, '.tools', 'sklearn-venv');
  const python = path.join(venv, 'bin', 'python');
  if (fs.existsSync(path.join(venv, '.ready'))) return python;
  console.log('[bench] creating .tools/sklearn-venv with scikit-learn from PyPI (first run only)');
  if (spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' }).status !== 0) return null;
  const pip = spawnSync(
    path.join(venv, 'bin', 'pip'),
    ['install', '--disable-pip-version-check', '-q', 'scikit-learn'],
    { stdio: 'inherit' },
  );
  if (pip.status !== 0) return null;
  fs.writeFileSync(path.join(venv, '.ready'), '');
  return python;
}
