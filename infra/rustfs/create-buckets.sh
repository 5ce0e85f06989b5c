#!/bin/sh
# Create the S3 buckets of the team setup if missing: MLflow's artifacts and the DVC remote.
# Idempotent: run by the bucket-init service on every `docker compose up`.
set -eu
for bucket in "$MLFLOW_BUCKET" "$DVC_BUCKET"; do
  if aws --endpoint-url "$S3_ENDPOINT" s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
    echo "bucket $bucket exists"
  else
    aws --endpoint-url "$S3_ENDPOINT" s3api create-bucket --bucket "$bucket"
    echo "bucket $bucket created"
  fi
done
