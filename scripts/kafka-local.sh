#!/usr/bin/env bash
# A real Apache Kafka broker on this machine, for local runs and demos of Sluice's Kafka exporter,
# receiver and exactly-once bridge: one KRaft node (broker and controller in one JVM) listening on
# 127.0.0.1 only, with its data under data/kafka-local/.
#
#   scripts/kafka-local.sh start     fetch Kafka (first time), format the storage (first time),
#                                    start kafka.Kafka, wait until it answers, create the OTLP topics
#   scripts/kafka-local.sh stop      stop the broker this script started (restart: stop, start)
#   scripts/kafka-local.sh status    is it running? (exit 0 yes, 3 no)
#   scripts/kafka-local.sh topics …  kafka-topics against it, e.g. topics --list,
#                                    topics --create --topic t --partitions 3
#   scripts/kafka-local.sh log       follow the broker's log
#   scripts/kafka-local.sh reset     delete the broker's data (stopped first), keep the download
#
# Kafka comes from Maven Central only, through the project's Maven wrapper: scripts/kafka-local/
# pom.xml names org.apache.kafka:kafka_2.13 (kafka.Kafka, kafka.tools.StorageTool), kafka-tools
# (kafka-topics) and slf4j-simple, and `mvnw dependency:copy-dependencies` copies them with their
# dependencies to data/kafka-local/lib-<version>/. The version is the root pom's <kafka.version>.
#
# Environment: KAFKA_LOCAL_DIR (data/kafka-local), KAFKA_LOCAL_PORT (9092),
# KAFKA_LOCAL_CONTROLLER_PORT (9093), KAFKA_LOCAL_HEAP (1g), KAFKA_LOCAL_LOG_LEVEL (info),
# KAFKA_VERSION (from pom.xml), JAVA_HOME (Java 17 or later), KAFKA_LOCAL_TOPICS (what start
# creates, 3 partitions each; default "otlp_spans otlp_metrics otlp_logs", empty for none).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${KAFKA_LOCAL_DIR:-$ROOT/data/kafka-local}"
PORT="${KAFKA_LOCAL_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_LOCAL_CONTROLLER_PORT:-9093}"
HEAP="${KAFKA_LOCAL_HEAP:-1g}"
TOPICS="${KAFKA_LOCAL_TOPICS-otlp_spans otlp_metrics otlp_logs}"
VERSION="${KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/pom.xml" | head -n 1)}"
LIB="$DATA/lib-$VERSION"
CONFIG="$DATA/server.properties"
LOGS="$DATA/logs"
PIDFILE="$DATA/kafka.pid"
LOGFILE="$DATA/kafka.log"
BOOTSTRAP="127.0.0.1:$PORT"
if [[ -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA="java"; fi

die() { echo "kafka-local: $*" >&2; exit 1; }
say() { echo "kafka-local: $*"; }

[[ -n "$VERSION" ]] || die "cannot read <kafka.version> from $ROOT/pom.xml (set KAFKA_VERSION)"

fetch() {
  if [[ -f "$LIB/.complete" ]]; then return; fi
  say "fetching Apache Kafka $VERSION from Maven Central into $LIB"
  rm -rf "$LIB"
  mkdir -p "$LIB"
  "$ROOT/mvnw" -q -B -f "$ROOT/scripts/kafka-local/pom.xml" "-Dkafka.version=$VERSION" \
    dependency:copy-dependencies "-DoutputDirectory=$LIB" -DincludeScope=runtime \
    || die "could not fetch Kafka $VERSION (is Maven Central reachable?)"
  [[ -f "$LIB/kafka_2.13-$VERSION.jar" ]] || die "kafka_2.13-$VERSION.jar is missing from $LIB"
  touch "$LIB/.complete"
}

# Kafka's tools (kafka-storage, kafka-topics) on the downloaded classpath, logging warnings only.
kafka_java() {
  "$JAVA" -cp "$LIB/*" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn "$@"
}

write_config() {
  mkdir -p "$DATA"
  cat >"$CONFIG" <<EOF
# Written by scripts/kafka-local.sh on each start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$LOGS
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=24
EOF
}

pid_running() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # The pid must still be our broker, not a recycled number.
  ps -o args= -p "$pid" 2>/dev/null | grep -q "kafka.Kafka $CONFIG"
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

topics() {
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" "$@"
}

start() {
  if pid_running; then
    say "already running (pid $(cat "$PIDFILE")) on $BOOTSTRAP"
    return 0
  fi
  if port_open "$PORT" || port_open "$CONTROLLER_PORT"; then
    die "127.0.0.1:$PORT or 127.0.0.1:$CONTROLLER_PORT is taken by another process"
  fi
  fetch
  write_config
  if [[ ! -f "$LOGS/meta.properties" ]]; then
    local cluster
    cluster="$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    [[ -n "$cluster" ]] || die "kafka-storage random-uuid gave nothing"
    say "formatting $LOGS (cluster id $cluster)"
    kafka_java kafka.tools.StorageTool format --cluster-id "$cluster" --config "$CONFIG" \
      >>"$LOGFILE" 2>&1 || die "formatting the storage failed; see $LOGFILE"
  fi
  say "starting Kafka $VERSION on $BOOTSTRAP (controller 127.0.0.1:$CONTROLLER_PORT), log $LOGFILE"
  # slf4j-simple writes to stderr, here the log file: timestamps, INFO unless told otherwise.
  nohup "$JAVA" -Xms256m "-Xmx$HEAP" -XX:+UseG1GC -Djava.awt.headless=true -cp "$LIB/*" \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd HH:mm:ss.SSS" \
    -Dorg.slf4j.simpleLogger.defaultLogLevel="${KAFKA_LOCAL_LOG_LEVEL:-info}" \
    kafka.Kafka "$CONFIG" >>"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local deadline=$((SECONDS + 60))
  until port_open "$PORT"; do
    if ! pid_running; then
      tail -n 30 "$LOGFILE" >&2 || true
      die "the broker exited during start; see $LOGFILE"
    fi
    if ((SECONDS > deadline)); then
      die "the broker did not open $BOOTSTRAP within 60 s; see $LOGFILE"
    fi
    sleep 0.5
  done
  # The port opens before the broker is registered: ask it something real.
  until topics --list >/dev/null 2>&1; do
    if ! pid_running || ((SECONDS > deadline)); then
      die "the broker does not answer on $BOOTSTRAP; see $LOGFILE"
    fi
    sleep 0.5
  done
  for t in $TOPICS; do
    topics --create --if-not-exists --topic "$t" --partitions 3 --replication-factor 1 \
      >/dev/null || die "could not create topic $t"
  done
  say "ready: bootstrap servers $BOOTSTRAP (pid $(cat "$PIDFILE"))${TOPICS:+, topics: $TOPICS}"
}

stop() {
  if ! pid_running; then
    say "not running"
    rm -f "$PIDFILE"
    return 0
  fi
  local pid
  pid="$(cat "$PIDFILE")"
  say "stopping pid $pid"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      say "still running after 30 s; killing pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.5
  done
  rm -f "$PIDFILE"
  say "stopped"
}

status() {
  if pid_running; then
    local answering="not answering yet"
    if port_open "$PORT"; then answering="listening"; fi
    say "running (pid $(cat "$PIDFILE")), $answering on $BOOTSTRAP; Kafka $VERSION; data $DATA"
    return 0
  fi
  say "not running (data $DATA)"
  return 3
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  topics)
    pid_running || die "not running (scripts/kafka-local.sh start)"
    topics "$@"
    ;;
  log) exec tail -n 100 -F "$LOGFILE" ;;
  reset)
    stop
    rm -rf "$LOGS" "$CONFIG" "$LOGFILE"
    say "deleted the broker's data under $DATA (kept $LIB)"
    ;;
  *)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    [[ -z "$cmd" || "$cmd" == "help" || "$cmd" == "-h" || "$cmd" == "--help" ]] || exit 2
    ;;
esac
