#!/usr/bin/env bash
# Builds Sluice and the benchmarks, then runs the end-to-end forwarding benchmark
# (dev.sluice.bench.ForwardLoad) with its defaults: 3 rounds of [A: 8 keep-alive connections to
# `sluice run --config bench/ingest-debug.yaml`] [B: the same, as fast as answers come, to
# `sluice run --config bench/forward-durable.yaml`, which forwards to a sink Sluice
# (bench/forward-sink.yaml)] [C: 50% of B's end-to-end rate], with waits for the exporter to drain
# after B and C; about 4 to 5 minutes. Works from any directory; extra arguments go to the harness,
# e.g. bench/run-forward.sh --rounds 5 --durable-config bench/forward-durable-unbatched.yaml.
# The sink listens on 127.0.0.1:${SLUICE_BENCH_SINK_PORT:-14319}.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
./mvnw -q -B -DskipTests package -pl sluice-app,bench -am
exec java ${FORWARD_JAVA_OPTS:-} -cp bench/target/benchmarks.jar dev.sluice.bench.ForwardLoad "$@"
