#!/usr/bin/env bash
# Builds Sluice and the benchmarks, then runs the ingest benchmark (dev.sluice.bench.IngestLoad)
# with its defaults: 3 rounds of [protobuf-java decode on 1 thread] + [8 keep-alive connections to
# `sluice run --config bench/ingest-debug.yaml`], about 2 minutes. Works from any directory;
# extra arguments go to the harness, e.g. bench/run-ingest.sh --rounds 5 --connections 16.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
./mvnw -q -B -DskipTests package -pl sluice-app,bench -am
exec java ${INGEST_JAVA_OPTS:-} -cp bench/target/benchmarks.jar dev.sluice.bench.IngestLoad "$@"
