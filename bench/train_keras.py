"""Keras baseline for bench/train-keras.ts: the same MLP, initial weights, batches and optimizer, on the same arrays.

Reads <folder>/x.f32 (rows × width), y.f32, hx.f32 / hy.f32 (holdout), w<i>.f32 (initial weights, in layer order),
order-<epoch>.u32 (each epoch's row order) and meta.json; trains epoch by epoch with train_on_batch (one compiled
step per batch, as Keras runs it) and prints JSON: per epoch the seconds, samples/s, mean loss and holdout AUC.
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
model.compile(optimizer=tf.keras.optimizers.Adam(meta["learningRate"], epsilon=1e-7), loss="binary_crossentropy")

history = []
for epoch in range(epochs):
    order = np.fromfile(f"{folder}/order-{epoch}.u32", dtype=np.uint32)
    t0 = time.perf_counter()
    losses = []
    for b in range(0, rows, batch):
        idx = order[b : b + batch]
        losses.append(float(model.train_on_batch(x[idx], y[idx])) * len(idx))
    seconds = time.perf_counter() - t0
    auc = roc_auc_score(hy, model.predict(hx, batch_size=65536, verbose=0)[:, 0])
    history.append({"epoch": epoch + 1, "seconds": seconds, "samplesPerSecond": rows / seconds, "loss": sum(losses) / rows, "auc": auc})
print(json.dumps({"tensorflow": tf.__version__, "keras": tf.keras.__version__ if hasattr(tf.keras, "__version__") else "", "history": history}))
