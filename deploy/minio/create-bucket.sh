#!/bin/sh
# Creates Lumen's artifact bucket once MinIO answers (docker-compose.yml, service minio-bucket).
set -eu
tries=0
until mc alias set lumen http://minio:9000 "$MINIO_USER" "$MINIO_PASSWORD" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "MinIO at http://minio:9000 did not answer within 60 s" >&2
    exit 1
  fi
  sleep 1
done
mc mb --ignore-existing lumen/lumen
echo "bucket lumen ready"
