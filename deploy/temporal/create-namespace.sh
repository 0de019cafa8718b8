#!/bin/sh
# One-shot job after the server is up: the namespace Lumen uses and its typed search attributes
# (LumenModel, LumenStage), so runs can be filtered by model and stage in the Web UI.
set -eu
: "${TEMPORAL_ADDRESS:?}"
NAMESPACE="${DEFAULT_NAMESPACE:-default}"

until temporal operator cluster health --address "$TEMPORAL_ADDRESS" | grep -q SERVING; do
  echo "waiting for temporal at $TEMPORAL_ADDRESS"; sleep 1
done
temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 ||
  temporal operator namespace create -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS"
for attribute in LumenModel LumenStage; do
  temporal operator search-attribute create -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" \
    --name "$attribute" --type Keyword --yes ||
    echo "search attribute $attribute already registered"
done
echo "namespace $NAMESPACE ready"
