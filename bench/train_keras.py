"""Keras baseline for bench/train-keras.ts: the same MLP, initial weights, batches and optimizer, on the same arrays.

Reads <folder>/x.f32 (rows × width), y.f32, hx.f32 / hy.f32 (holdout), w<i>.f32 (initial weights, in layer order),
order-<epoch>.u32 (each epoch's row order) and meta.json; trains epoch by epoch and prints JSON: per epoch the
seconds, samples/s, mean loss and holdout AUC.

  train_keras.py <folder>                          train_on_batch, one compiled step per batch
  train_keras.py <folder> fit <steps> [jit]        Keras at its best: fit() running <steps> batches inside one
                                                   compiled call (steps_per_execution), optionally XLA-compiled;
                                                   each epoch's rows are put in that epoch's order beforehand, so
                                                   the batches are the same as train_on_batch's
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

folder = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "train_on_batch"
steps_per_execution = int(sys.argv[3]) if mode == "fit" else 1
jit = mode == "fit" and len(sys.argv) > 4 and sys.argv[4] == "jit"
meta = json.load(open(f"{folder}/meta.json"))
rows, width, batch, epochs = meta["rows"], meta["width"], meta["batchSize"], meta["epochs"]
x = np.fromfile(f"{folder}/x.f32", dtype=np.float32).reshape(rows, width)
y = np.fromfile(f"{folder}/y.f32", dtype=np.float32).reshape(rows, 1)
hx = np.fromfile(f"{folder}/hx.f32", dtype=np.float32).reshape(-1, width)
hy = np.fromfile(f"{folder}/hy.f32", dtype=np.float32)

units = meta["units"]
model = tf.keras.Sequential([tf.keras.Input((width,))])
for i, u in enumerate(units):
    model.add(tf.keras.layers.Dense(u, activation="sigmoid" if i == len(units) - 1 else "relu"))
weights = []
inputs = width
for u in units:
    weights.append(np.fromfile(f"{folder}/w{len(weights)}.f32", dtype=np.float32).reshape(inputs, u))
    weights.append(np.fromfile(f"{folder}/w{len(weights)}.f32", dtype=np.float32))
    inputs = u
model.set_weights(weights)
model.compile(
    optimizer=tf.keras.optimizers.Adam(meta["learningRate"], epsilon=1e-7),
    loss="binary_crossentropy",
    steps_per_execution=steps_per_execution,
    jit_compile=jit,
)

history = []
for epoch in range(epochs):
    order = np.fromfile(f"{folder}/order-{epoch}.u32", dtype=np.uint32)
    if mode == "fit":
        ox, oy = x[order], y[order]
        t0 = time.perf_counter()
        fitted = model.fit(ox, oy, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        seconds = time.perf_counter() - t0
        # Keras reports the batches' mean loss; the last batch is smaller, as in train_on_batch's weighted mean
        losses = [fitted.history["loss"][0] * rows]
    else:
        t0 = time.perf_counter()
        losses = []
        for b in range(0, rows, batch):
            idx = order[b : b + batch]
            losses.append(float(model.train_on_batch(x[idx], y[idx])) * len(idx))
        seconds = time.perf_counter() - t0
    auc = roc_auc_score(hy, model.predict(hx, batch_size=65536, verbose=0)[:, 0])
    history.append({"epoch": epoch + 1, "seconds": seconds, "samplesPerSecond": rows / seconds, "loss": sum(losses) / rows, "auc": auc})
print(json.dumps({"tensorflow": tf.__version__, "keras": tf.keras.__version__ if hasattr(tf.keras, "__version__") else "", "history": history}))
