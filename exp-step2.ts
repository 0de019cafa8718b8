import { loadTf } from './lib/model/tf';
(async () => {
  const { tf } = await loadTf();
  const B = 1024;
  const x = tf.randomUniform([B, 154], 0, 1, 'float32', 5);
  const y = tf.cast(tf.randomUniform([B, 1], 0, 1, 'float32', 6).greater(0.8), 'float32');
  const shapes: [number, number][] = [[154, 64], [64, 32], [32, 1]];
  const sizes = shapes.flatMap(([a, b]) => [a * b, b]);
  const total = sizes.reduce((a, b) => a + b, 0);
  const flat = tf.variable(tf.randomUniform([total], -0.1, 0.1, 'float32', 7));
  const m = tf.variable(tf.zeros([total])); const v = tf.variable(tf.zeros([total]));
  const acts = ['relu', 'relu', 'sigmoid'] as const;
  let t1 = 1;
  const lr = 0.002, b1 = 0.9, b2 = 0.999, eps = 1e-7;
  const step = () => tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const parts = tf.split(flat, sizes);
      let h: any = x;
      shapes.forEach(([a, b], i) => {
        h = tf.fused.matMul({ a: h, b: parts[2 * i].reshape([a, b]), bias: parts[2 * i + 1], activation: acts[i] });
      });
      const p = tf.clipByValue(h, eps, 1 - eps);
      return tf.neg(tf.mean(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p)))))) as any;
    }, [flat]);
    const g = grads[flat.name];
    const nm = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
    const nv = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
    const c1 = 1 - b1 ** t1, c2 = 1 - b2 ** t1;
    t1++;
    flat.assign(tf.sub(flat, tf.mul(tf.div(tf.div(nm, c1), tf.add(tf.sqrt(tf.div(nv, c2)), eps)), lr)));
    m.assign(nm); v.assign(nv);
    return value.dataSync()[0];
  });
  for (let i = 0; i < 10; i++) step();
  const prof = await tf.profile(async () => { step(); });
  console.log('flat kernels', prof.kernels.length, prof.kernels.map((k) => k.name).join(','));
  const t = performance.now();
  for (let i = 0; i < 100; i++) step();
  console.log('flat ms/step', ((performance.now() - t) / 100).toFixed(2), 'tensors', tf.memory().numTensors);
})();
