#!/bin/sh
# One-shot job after the server is up: the namespace Lumen uses and its typed search attributes, so runs can be
# filtered by model, stage, version, outcome, batch and dataset in the Web UI (workflows/definitions.ts).
set -eu
: "${TEMPORAL_ADDRESS:?}"
NAMESPACE="${DEFAULT_NAMESPACE:-default}"

until temporal operator cluster health --address "$TEMPORAL_ADDRESS" | grep -q SERVING; do
  echo "waiting for temporal at $TEMPORAL_ADDRESS"; sleep 1
done
temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 ||
  temporal operator namespace create -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS"
for attribute in LumenModel:Keyword LumenStage:Keyword LumenVersion:Int LumenOutcome:Keyword LumenBatch:Keyword LumenDataset:Keyword; do
  name="${attribute%%:*}"
  type="${attribute#*:}"
  temporal operator search-attribute create -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" \
    --name "$name" --type "$type" --yes ||
    echo "search attribute $name already registered"
done
echo "namespace $NAMESPACE ready"
