#!/usr/bin/env bash
# Builds versitygw (an S3-compatible gateway over a plain directory, Apache-2.0), the S3 server of
# the tests and of `./dev start` with IMAGE_STORE=s3, for machines with no S3 and no Docker.
set -euo pipefail
exec "$(dirname "$0")/build-go-tool.sh" versitygw github.com/versity/versitygw "${VERSITYGW_VERSION:-v1.8.0}" ./cmd/versitygw
