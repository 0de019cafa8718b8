import { loadTf } from './lib/model/tf';
(async () => {
  const { tf } = await loadTf();
  const build = () => {
    const m = tf.sequential();
    m.add(tf.layers.dense({ inputShape: [154], units: 64, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
    m.add(tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
    m.add(tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
    m.compile({ optimizer: tf.train.adam(0.002), loss: 'binaryCrossentropy' });
    return m;
  };
  const B = 1024;
  const x = tf.randomUniform([B, 154], 0, 1, 'float32', 5);
  const y = tf.cast(tf.randomUniform([B, 1], 0, 1, 'float32', 6).greater(0.8), 'float32');
  const m1 = build();
  for (let i = 0; i < 10; i++) await m1.trainOnBatch(x, y);
  let prof = await tf.profile(async () => { await m1.trainOnBatch(x, y); });
  console.log('trainOnBatch kernels', prof.kernels.length);
  let t = performance.now();
  for (let i = 0; i < 100; i++) await m1.trainOnBatch(x, y);
  console.log('trainOnBatch ms/step', ((performance.now() - t) / 100).toFixed(2));

  const m2 = build();
  const layers = m2.layers.map((l) => ({ k: (l as any).kernel.val, b: (l as any).bias.val, act: (l.getConfig() as any).activation }));
  const vars = layers.flatMap((l) => [l.k, l.b]);
  const opt = m2.optimizer;
  const eps = 1e-7;
  const step = () => {
    const cost = opt.minimize(() => {
      let h: any = x;
      for (const l of layers) h = tf.fused.matMul({ a: h, b: l.k, bias: l.b, activation: l.act });
      const p = tf.clipByValue(h, eps, 1 - eps);
      const loss = tf.neg(tf.mean(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p))))));
      return loss as any;
    }, true, vars);
    const v = cost!.dataSync()[0];
    cost!.dispose();
    return v;
  };
  for (let i = 0; i < 10; i++) step();
  prof = await tf.profile(async () => { step(); });
  console.log('custom kernels', prof.kernels.length, [...new Set(prof.kernels.map((k) => k.name))].join(','));
  t = performance.now();
  for (let i = 0; i < 100; i++) step();
  console.log('custom ms/step', ((performance.now() - t) / 100).toFixed(2));
  console.log('tensors', tf.memory().numTensors);
})();
