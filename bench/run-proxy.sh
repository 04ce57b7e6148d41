#!/usr/bin/env bash
# End-to-end reverse-proxy benchmark: Sluice (`sluice proxy`), nginx and HAProxy proxy the same
# nginx backend in the same run, each on one worker / event loop, measured over loopback with
# keep-alive connections by wrk (HTTP/1.1) and h2load (HTTP/2 cleartext, prior knowledge).
# It reports requests/s and P99 latency per proxy (the median over the rounds), the ratios to
# nginx, and a markdown table for docs/benchmarks.md. The target is Sluice at nginx's requests/s
# or more with a P99 no worse than nginx's.
#
# What runs (all as the current user, from a temporary directory, removed at the end):
#   backend   nginx, 1 worker, one fixed body of --body-size bytes, HTTP/1.1 keep-alive
#   nginx     1 worker, upstream keepalive pool, proxy_http_version 1.1      (bench/proxy/nginx.conf.in)
#   haproxy   nbthread 1, mode http, http-reuse always                      (bench/proxy/haproxy.cfg.in)
#   sluice    bin/sluice proxy --listen ... --to ... --io-threads 1          (one port, h1 and h2c)
# Each round runs every proxy in turn (A, B, C, then A, B, C in the next round) so that noise on
# the machine falls on all of them alike. Before round 1 each proxy gets a warm-up run, reported
# on its own line and not counted: --warmup seconds per protocol for Sluice (JIT compilation), in
# runs of at most 10 s with new connections each and the protocols taking turns (as in the
# rounds), 2 s for the others (which only fills their backend pools). Every proxy must first answer 200 with the
# backend's body over both protocols, or the run stops.
#
# CPU pinning (taskset): on a 2-core machine the proxy gets one core to itself (--proxy-cpu,
# default 0) and the load generator and the backend share the other (--load-cpu, default 1).
# Unpinned, the proxy, wrk and the backend would take turns on both cores and the result would
# measure the scheduler as much as the proxy; pinned, each proxy has exactly one core, as its
# single worker would in production, and all of them face the same client and backend. The
# report shows the proxy's own CPU use, how busy the load core was (a proxy well under 100% while
# the load core is near 100% means the client side, not the proxy, set the pace), and "other CPU":
# what processes outside the benchmark took on the two cores, which flags a noisy machine.
#
# P99 is exact: wrk's figures come from bench/proxy/latency.lua (latency:percentile(99) in done()),
# h2load's from its per-request log. Non-2xx counts responses wrk or h2load saw with a status of
# 300 or more (wrk: 400 or more); socket errors are connect, read, write errors and timeouts.
#
# Needs wrk, nginx, haproxy, h2load (Debian: nghttp2-client), curl and taskset; missing ones are
# installed with apt-get (as root) or sudo apt-get. Installing Debian's nginx or haproxy package
# may start the distribution's service on a normal host; this benchmark neither uses nor stops it.
# Sluice runs through bin/sluice, which builds the jar first when it is stale; the script does that
# before anything is measured and stops at once if `sluice proxy` is not there. The JVM options
# come from SLUICE_JAVA_OPTS (read by bin/sluice), default "-Xms512m -Xmx512m -XX:+AlwaysPreTouch"
# (pinned to one core the JVM sees one CPU and picks the serial collector unless told otherwise);
# extra arguments for `sluice proxy` from SLUICE_PROXY_ARGS; SLUICE_BIN runs another launcher.
#
# Usage: bench/run-proxy.sh [options]
#   --rounds N           measured rounds (default 3)
#   --duration S         seconds per measurement (default 10)
#   --connections N      keep-alive connections (default 64)
#   --threads N          wrk / h2load threads (default 1)
#   --h2-streams N       h2load concurrent streams per connection (default 1)
#   --warmup S           Sluice warm-up seconds per protocol, in runs of at most 10 s, reported
#                        apart (default 60)
#   --proxies LIST       comma-separated, from sluice,nginx,haproxy,direct (default sluice,nginx,haproxy;
#                        "direct" is wrk straight to the backend, HTTP/1.1 only, as a reference)
#   --protocols LIST     h1,h2 (default both)
#   --body-size BYTES    response body size (default 128)
#   --proxy-cpu N        core for the proxies (default 0)
#   --load-cpu N         core for the load generator and the backend (default 1)
#   --port-base N        first port tried; the next free ones are used (default 18400)
#   --keep               keep the temporary directory (configs, logs, raw outputs)
# Example: bench/run-proxy.sh --proxies nginx,haproxy --rounds 2 --duration 5
set -euo pipefail

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
templates="$root/bench/proxy"
sluice_bin="${SLUICE_BIN:-$root/bin/sluice}"
command_line="bench/run-proxy.sh${*:+ $*}"

rounds=3
duration=10
connections=64
threads=1
h2_streams=1
warmup=60
warmup_slice=10
other_warmup=2
proxies="sluice,nginx,haproxy"
protocols="h1,h2"
body_size=128
proxy_cpu=0
load_cpu=1
port_base=18400
keep=0

die() {
  echo "run-proxy: $*" >&2
  exit 1
}

usage() {
  sed -n '/^# Usage:/,/^# Example:/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

positive_int() { # name value
  if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -eq 0 ]; then die "$1 must be a positive integer, got '$2'"; fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="${2:-}"; shift 2 ;;
    --duration) duration="${2:-}"; shift 2 ;;
    --connections) connections="${2:-}"; shift 2 ;;
    --threads) threads="${2:-}"; shift 2 ;;
    --h2-streams) h2_streams="${2:-}"; shift 2 ;;
    --warmup) warmup="${2:-}"; shift 2 ;;
    --proxies) proxies="${2:-}"; shift 2 ;;
    --protocols) protocols="${2:-}"; shift 2 ;;
    --body-size) body_size="${2:-}"; shift 2 ;;
    --proxy-cpu) proxy_cpu="${2:-}"; shift 2 ;;
    --load-cpu) load_cpu="${2:-}"; shift 2 ;;
    --port-base) port_base="${2:-}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done

positive_int --rounds "$rounds"
positive_int --duration "$duration"
positive_int --connections "$connections"
positive_int --threads "$threads"
positive_int --h2-streams "$h2_streams"
positive_int --body-size "$body_size"
positive_int --port-base "$port_base"
[[ "$warmup" =~ ^[0-9]+$ ]] || die "--warmup must be a number of seconds (0 for none), got '$warmup'"
[ "$threads" -le "$connections" ] || die "--threads ($threads) must not exceed --connections ($connections)"
[ "$port_base" -le 60000 ] || die "--port-base must be at most 60000, got $port_base"

IFS=, read -r -a proxy_list <<<"$proxies"
[ "${#proxy_list[@]}" -gt 0 ] || die "--proxies is empty"
for p in "${proxy_list[@]}"; do
  case "$p" in sluice|nginx|haproxy|direct) ;; *) die "--proxies: unknown proxy '$p' (sluice, nginx, haproxy, direct)" ;; esac
done
IFS=, read -r -a protocol_list <<<"$protocols"
[ "${#protocol_list[@]}" -gt 0 ] || die "--protocols is empty"
for p in "${protocol_list[@]}"; do
  case "$p" in h1|h2) ;; *) die "--protocols: unknown protocol '$p' (h1, h2)" ;; esac
done

has() { # word list...
  local w="$1"; shift
  local x
  for x in "$@"; do [ "$x" = "$w" ] && return 0; done
  return 1
}

cpus="$(nproc)"
for c in "$proxy_cpu" "$load_cpu"; do
  if ! [[ "$c" =~ ^[0-9]+$ ]] || [ "$c" -ge "$cpus" ]; then die "CPU '$c' does not exist here (nproc = $cpus)"; fi
done
if [ "$proxy_cpu" = "$load_cpu" ]; then
  echo "run-proxy: warning: the proxies and the load generator share CPU $proxy_cpu" >&2
fi

# --- tools ---------------------------------------------------------------------------------------

find_tool() { # name: prints its path, also looking where Debian puts daemons
  local t
  t="$(command -v "$1" 2>/dev/null)" && { echo "$t"; return 0; }
  for t in "/usr/sbin/$1" "/sbin/$1"; do [ -x "$t" ] && { echo "$t"; return 0; }; done
  return 1
}

missing=()
find_tool wrk >/dev/null || missing+=(wrk)
find_tool h2load >/dev/null || missing+=(nghttp2-client)
find_tool nginx >/dev/null || missing+=(nginx)
find_tool curl >/dev/null || missing+=(curl)
find_tool taskset >/dev/null || missing+=(util-linux)
if has haproxy "${proxy_list[@]}"; then
  find_tool haproxy >/dev/null || missing+=(haproxy)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt=(apt-get)
  elif command -v sudo >/dev/null 2>&1; then
    apt=(sudo apt-get)
  else
    die "missing packages ${missing[*]}, and neither root nor sudo is available to install them"
  fi
  echo "run-proxy: installing ${missing[*]}" >&2
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -q "${missing[@]}" >&2; then
    "${apt[@]}" update -q >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -q "${missing[@]}" >&2 ||
      die "could not install ${missing[*]}"
  fi
fi
wrk_bin="$(find_tool wrk)" || die "wrk not found after installing it"
h2load_bin="$(find_tool h2load)" || die "h2load not found after installing nghttp2-client"
nginx_bin="$(find_tool nginx)" || die "nginx not found after installing it"
curl_bin="$(find_tool curl)" || die "curl not found after installing it"
haproxy_bin=""
if has haproxy "${proxy_list[@]}"; then
  haproxy_bin="$(find_tool haproxy)" || die "haproxy not found after installing it"
fi

nginx_version="$("$nginx_bin" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')"
[ -n "$nginx_version" ] || die "cannot read the nginx version from '$nginx_bin -v'"
wrk_version="$("$wrk_bin" -v 2>&1 | sed -n 's/^wrk \([^ ]*\).*/\1/p' | head -1 || true)"
h2load_version="$("$h2load_bin" --version 2>&1 | sed -n 's|.*nghttp2/\([0-9.]*\).*|\1|p' | head -1 || true)"
haproxy_version=""
[ -n "$haproxy_bin" ] && haproxy_version="$("$haproxy_bin" -v 2>&1 | sed -n 's/^HAProxy version \([^ ]*\).*/\1/p' | head -1 || true)"

# nginx 1.25.1 replaced "listen ... http2" with the "http2 on" directive.
version_at_least() { # have want
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]
}

# --- Sluice --------------------------------------------------------------------------------------

sluice_rev=""
if has sluice "${proxy_list[@]}"; then
  # bin/sluice builds the jar first when it is missing or stale; doing it here keeps the build out
  # of the pinned measurement and shows at once whether the proxy command exists.
  echo "run-proxy: checking 'bin/sluice proxy' (builds Sluice first if needed)" >&2
  help_out="$(timeout 1200 "$sluice_bin" proxy --help 2>&1)" && help_rc=0 || help_rc=$?
  if [ "$help_rc" != 0 ] || ! grep -q -- '--listen' <<<"$help_out" || ! grep -q -- '--io-threads' <<<"$help_out"; then
    printf '%s\n' "$help_out" | tail -n 15 >&2
    die "'bin/sluice proxy' is not available in this checkout (exit $help_rc, no --listen/--io-threads in its help); build a Sluice with the proxy command, or run without it: --proxies nginx,haproxy"
  fi
  sluice_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi

# --- temporary directory, processes and cleanup --------------------------------------------------

load_at_start="$(cut -d' ' -f1-3 /proc/loadavg)"
work="$(mktemp -d "${TMPDIR:-/tmp}/sluice-proxy-bench.XXXXXX")"
mkdir -p "$work/tmp" "$work/www" "$work/out"
cd "$work"

pids=()       # every process started, killed in reverse order at exit
load_pid=""   # the running wrk / h2load, if any

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local all=()
  [ -n "$load_pid" ] && all+=("$load_pid")
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do all+=("${pids[$i]}"); done
  if [ "${#all[@]}" -gt 0 ]; then
    kill -TERM "${all[@]}" 2>/dev/null || true
    local deadline=$((SECONDS + 10)) p alive
    while :; do
      alive=()
      for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
      [ "${#alive[@]}" -eq 0 ] && break
      if [ "$SECONDS" -ge "$deadline" ]; then
        kill -KILL "${alive[@]}" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
    wait 2>/dev/null || true
  fi
  if [ "$rc" = 0 ] && [ "$keep" = 0 ]; then
    rm -rf "$work"
  else
    echo "run-proxy: configs, logs and raw outputs kept in $work" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "run-proxy: interrupted" >&2; exit 130' INT
trap 'echo "run-proxy: terminated" >&2; exit 143' TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}
next_port=$port_base
take_port() { # sets port to the next free one
  while ! port_free "$next_port"; do
    next_port=$((next_port + 1))
    [ "$next_port" -le 65000 ] || die "no free port found from $port_base"
  done
  port=$next_port
  next_port=$((next_port + 1))
}

start() { # name cpu command...: starts it pinned to cpu, output in $work/name.log, pid in started
  local name="$1" cpu="$2"
  shift 2
  taskset -c "$cpu" "$@" >"$work/$name.log" 2>&1 &
  started=$!
  pids+=("$started")
}

wait_listening() { # name pid port seconds
  local deadline=$((SECONDS + $4))
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null; do
    if ! kill -0 "$2" 2>/dev/null; then
      tail -n 20 "$work/$1.log" >&2 || true
      die "$1 exited before listening on 127.0.0.1:$3 (log above)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "$1 is not listening on 127.0.0.1:$3 after $4 s (log: $work/$1.log)"
    sleep 0.2
  done
}

adopt_children() { # pid: remember the workers of a master process so that they are cleaned up too
  local c
  for c in $(pgrep -P "$1" 2>/dev/null || true); do pids+=("$c"); done
}

fill() { # template output key=value...
  local template="$1" out="$2" kv
  shift 2
  local args=()
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$template" >"$out"
  if grep -q '@[A-Z0-9_]*@' "$out"; then die "unfilled placeholder in $out"; fi
}

user_directive=""
[ "$(id -u)" = 0 ] && user_directive="user $(id -un) $(id -gn);"

# --- the body, the backend and the proxies -------------------------------------------------------

awk -v n="$body_size" 'BEGIN { s = "sluice-proxy-benchmark."; while (length(s) < n) s = s s; printf "%s", substr(s, 1, n) }' >"$work/www/body.txt"

take_port
backend_port=$port
fill "$templates/backend-nginx.conf.in" "$work/backend.conf" \
  WORK="$work" BACKEND_PORT="$backend_port" USER_DIRECTIVE="$user_directive"
start backend "$load_cpu" "$nginx_bin" -p "$work" -c "$work/backend.conf" -e "$work/backend-error.log"
backend_pid=$started
wait_listening backend "$backend_pid" "$backend_port" 10
adopt_children "$backend_pid"

declare -A url_h1 url_h2 proc_pid
url_h1[direct]="http://127.0.0.1:$backend_port/"
proc_pid[direct]=""

if has nginx "${proxy_list[@]}"; then
  take_port
  nginx_h1=$port
  take_port
  nginx_h2=$port
  if version_at_least "$nginx_version" 1.25.1; then
    h2_listen="listen 127.0.0.1:$nginx_h2 backlog=4096; http2 on;"
  else
    h2_listen="listen 127.0.0.1:$nginx_h2 http2 backlog=4096;"
  fi
  fill "$templates/nginx.conf.in" "$work/nginx.conf" WORK="$work" BACKEND_PORT="$backend_port" \
    H1_PORT="$nginx_h1" H2_LISTEN="$h2_listen" USER_DIRECTIVE="$user_directive"
  start nginx "$proxy_cpu" "$nginx_bin" -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log"
  nginx_pid=$started
  wait_listening nginx "$nginx_pid" "$nginx_h1" 10
  wait_listening nginx "$nginx_pid" "$nginx_h2" 10
  adopt_children "$nginx_pid"
  url_h1[nginx]="http://127.0.0.1:$nginx_h1/"
  url_h2[nginx]="http://127.0.0.1:$nginx_h2/"
  proc_pid[nginx]="$nginx_pid"
fi

if has haproxy "${proxy_list[@]}"; then
  take_port
  haproxy_h1=$port
  take_port
  haproxy_h2=$port
  fill "$templates/haproxy.cfg.in" "$work/haproxy.cfg" BACKEND_PORT="$backend_port" \
    H1_PORT="$haproxy_h1" H2_PORT="$haproxy_h2" MAXCONN="$((connections + 1024))"
  "$haproxy_bin" -c -q -f "$work/haproxy.cfg" >"$work/haproxy-check.log" 2>&1 ||
    { cat "$work/haproxy-check.log" >&2; die "HAProxy rejects $work/haproxy.cfg"; }
  start haproxy "$proxy_cpu" "$haproxy_bin" -db -f "$work/haproxy.cfg"
  haproxy_pid=$started
  wait_listening haproxy "$haproxy_pid" "$haproxy_h1" 10
  wait_listening haproxy "$haproxy_pid" "$haproxy_h2" 10
  url_h1[haproxy]="http://127.0.0.1:$haproxy_h1/"
  url_h2[haproxy]="http://127.0.0.1:$haproxy_h2/"
  proc_pid[haproxy]="$haproxy_pid"
fi

sluice_java_opts="${SLUICE_JAVA_OPTS:--Xms512m -Xmx512m -XX:+AlwaysPreTouch}"
if has sluice "${proxy_list[@]}"; then
  take_port
  sluice_port=$port
  # shellcheck disable=SC2086 # SLUICE_PROXY_ARGS is a list of words on purpose
  SLUICE_JAVA_OPTS="$sluice_java_opts" start sluice "$proxy_cpu" "$sluice_bin" proxy \
    --listen "127.0.0.1:$sluice_port" --to "http://127.0.0.1:$backend_port" --io-threads 1 \
    ${SLUICE_PROXY_ARGS:-}
  sluice_pid=$started
  wait_listening sluice "$sluice_pid" "$sluice_port" 60
  url_h1[sluice]="http://127.0.0.1:$sluice_port/"
  url_h2[sluice]="http://127.0.0.1:$sluice_port/"
  proc_pid[sluice]="$sluice_pid"
fi

# --- correctness check before measuring ----------------------------------------------------------

check() { # proxy protocol url
  local out="$work/out/check-$1-$2.body" flag want got
  if [ "$2" = h1 ]; then flag=--http1.1; want=1.1; else flag=--http2-prior-knowledge; want=2; fi
  got="$("$curl_bin" -sS --max-time 5 "$flag" -o "$out" -w '%{http_code} %{http_version}' "$3" 2>&1)" ||
    die "$1 ($2) did not answer $3: $got"
  [ "$got" = "200 $want" ] || die "$1 ($2) answered '$got' at $3, expected '200 $want' (status, HTTP version)"
  cmp -s "$out" "$work/www/body.txt" ||
    die "$1 ($2) answered 200 with a body of $(wc -c <"$out") bytes that is not the backend's $body_size-byte body"
  [ "$1" = direct ] && return 0
  # the same header work from every proxy: X-Forwarded-For, -Proto, -Host and Via both ways
  got="$("$curl_bin" -sS --max-time 5 "$flag" -D "$out.head" "${3}forwarded" 2>&1)" ||
    die "$1 ($2) did not answer ${3}forwarded: $got"
  [[ "$got" =~ ^for=127\.0\.0\.1\ proto=http\ host=127\.0\.0\.1:[0-9]+\ via=(1\.1|2)\ [a-z]+$ ]] ||
    die "$1 ($2) did not add the forwarding headers to the request; the backend saw: $got"
  grep -qiE '^via: *(1\.1|2) ' "$out.head" || die "$1 ($2) did not add Via to the response"
}

runs=()   # "protocol proxy" pairs in the order of a round
for proto in "${protocol_list[@]}"; do
  for p in "${proxy_list[@]}"; do
    if [ "$proto" = h2 ] && [ "$p" = direct ]; then continue; fi
    if [ "$proto" = h1 ]; then url="${url_h1[$p]}"; else url="${url_h2[$p]}"; fi
    check "$p" "$proto" "$url"
    runs+=("$proto $p")
  done
done
echo "run-proxy: every proxy answers 200 with the backend's $body_size-byte body over ${protocols//,/ and }"

# --- measuring -----------------------------------------------------------------------------------

clk_tck="$(getconf CLK_TCK)"
proc_ticks() { # pid: CPU ticks of the process and its children
  local total=0 p t
  [ -n "$1" ] || { echo 0; return; }
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    t="$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')" || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
waited_ticks() { # CPU ticks of this script's finished children (and theirs), e.g. wrk after it ends
  sed 's/^.*) //' "/proc/$$/stat" | awk '{ print $14 + $15 }'
}
core_ticks() { # cpu: "busy total" ticks of one core
  awk -v c="cpu$1" '$1 == c { total = 0; for (i = 2; i <= NF; i++) total += $i; print total - $5 - $6, total }' /proc/stat
}

# Runs one measurement and appends
# "label proto proxy rps p99_us non2xx errors proxy_cpu% load_core_busy% other_cpu%"
# to $work/results.tsv; prints a human-readable line.
measure() { # label proto proxy seconds
  local label="$1" proto="$2" p="$3" secs="$4" url raw rc
  if [ "$proto" = h1 ]; then url="${url_h1[$p]}"; else url="${url_h2[$p]}"; fi
  raw="$work/out/$label-$proto-$p.txt"
  local t0 c0 c1 lb0 lt0 lb1 lt1 pb0 pb1 b0 b1 w0 w1
  t0="$(date +%s%N)"
  c0="$(proc_ticks "${proc_pid[$p]}")"
  b0="$(proc_ticks "$backend_pid")"
  w0="$(waited_ticks)"
  read -r lb0 lt0 < <(core_ticks "$load_cpu")
  read -r pb0 _ < <(core_ticks "$proxy_cpu")
  if [ "$proto" = h1 ]; then
    taskset -c "$load_cpu" timeout $((secs + 30)) "$wrk_bin" -t "$threads" -c "$connections" -d "${secs}s" \
      --latency -s "$templates/latency.lua" "$url" >"$raw" 2>&1 &
  else
    taskset -c "$load_cpu" timeout $((secs + 30)) "$h2load_bin" -t "$threads" -c "$connections" \
      -m "$h2_streams" -D "$secs" --log-file="$raw.log" "$url" >"$raw" 2>&1 &
  fi
  load_pid=$!
  wait "$load_pid" && rc=0 || rc=$?
  load_pid=""
  c1="$(proc_ticks "${proc_pid[$p]}")"
  b1="$(proc_ticks "$backend_pid")"
  w1="$(waited_ticks)"
  read -r lb1 lt1 < <(core_ticks "$load_cpu")
  read -r pb1 _ < <(core_ticks "$proxy_cpu")
  local elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
  if [ "$rc" = 124 ]; then die "$label $proto $p: the load generator did not finish within $((secs + 30)) s (output: $raw)"; fi
  [ "$rc" = 0 ] || { tail -n 20 "$raw" >&2; die "$label $proto $p: the load generator failed (exit $rc)"; }

  local rps p99 non2xx errors
  if [ "$proto" = h1 ]; then
    local line
    line="$(grep '^RESULT ' "$raw" | tail -1)" || die "$label $proto $p: no RESULT line in wrk's output ($raw)"
    get() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
    rps="$(awk -v n="$(get requests)" -v us="$(get duration_us)" 'BEGIN { printf "%.0f", n / (us / 1e6) }')"
    p99="$(get p99_us)"
    non2xx="$(get status)"
    errors=$(($(get connect) + $(get read) + $(get write) + $(get timeout)))
  else
    rps="$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$raw" | awk '{ printf "%.0f", $1 }')"
    [ -n "$rps" ] || { tail -n 20 "$raw" >&2; die "$label $proto $p: no 'finished in' line in h2load's output ($raw)"; }
    p99="$(cut -f3 "$raw.log" | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print 0; exit } i = int(NR * 0.99); if (i < NR * 0.99) i++; print v[i] }')"
    non2xx="$(sed -n 's/^status codes: [0-9]* 2xx, \([0-9]*\) 3xx, \([0-9]*\) 4xx, \([0-9]*\) 5xx.*/\1 \2 \3/p' "$raw" | awk '{ print $1 + $2 + $3 }')"
    errors="$(sed -n 's/^requests: .* \([0-9]*\) errored, \([0-9]*\) timeout.*/\1 \2/p' "$raw" | awk '{ print $1 + $2 }')"
    local done_n
    done_n="$(sed -n 's/^requests: .* \([0-9]*\) done,.*/\1/p' "$raw")"
    [ "${done_n:-0}" -gt 0 ] || { tail -n 20 "$raw" >&2; die "$label $proto $p: h2load completed no request ($raw)"; }
    [ "$keep" = 1 ] || rm -f "$raw.log"
  fi
  local pcpu lcpu
  if [ -n "${proc_pid[$p]}" ]; then
    pcpu="$(awk -v t="$((c1 - c0))" -v hz="$clk_tck" -v ms="$elapsed_ms" 'BEGIN { printf "%.0f", 100 * t / hz / (ms / 1000) }')"
  else
    pcpu="-"
  fi
  lcpu="$(awk -v b="$((lb1 - lb0))" -v t="$((lt1 - lt0))" 'BEGIN { printf "%.0f", (t > 0 ? 100 * b / t : 0) }')"
  # What else ran on the benchmark's cores: their busy time less the proxy, the backend and the
  # load generator, in % of one core. Other work on a shared machine shows here.
  local busy=$((lb1 - lb0))
  [ "$proxy_cpu" = "$load_cpu" ] || busy=$((busy + pb1 - pb0))
  local ocpu
  ocpu="$(awk -v o="$((busy - (c1 - c0) - (b1 - b0) - (w1 - w0)))" -v t="$((lt1 - lt0))" \
    'BEGIN { v = (t > 0 ? 100 * o / t : 0); printf "%.0f", (v < 0 ? 0 : v) }')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$proto" "$p" "$rps" "$p99" "${non2xx:-0}" "${errors:-0}" "$pcpu" "$lcpu" "$ocpu" >>"$work/results.tsv"
  local shown="$label"
  [ "$label" = warmup ] && shown="warm-up ${secs}s"
  printf '%-11s %-3s %-8s %9s req/s   P99 %8.3f ms   non-2xx %s   socket errors %s   proxy CPU %s   load core %s%%   other %s%%\n' \
    "$shown" "$proto" "$p" "$rps" "$(awk -v u="$p99" 'BEGIN { print u / 1000 }')" "${non2xx:-0}" "${errors:-0}" \
    "$([ "$pcpu" = - ] && echo - || echo "$pcpu%")" "$lcpu" "$ocpu"
}

echo
echo "Command: $command_line"
echo "Proxies on CPU $proxy_cpu; wrk/h2load and the backend on CPU $load_cpu; $connections connections, $threads thread(s), body $body_size bytes, ${duration} s per measurement, $rounds round(s)"
echo

# Sluice's warm-up comes in slices of at most $warmup_slice seconds, each with new connections,
# the protocols taking turns as they do in the rounds: every measured run opens its connections
# afresh and follows a run of the other protocol, and code that has only seen one set of
# connections or one protocol is compiled anew (on the proxy's one core) when the other comes.
if has sluice "${proxy_list[@]}" && [ "$warmup" -gt 0 ]; then
  left="$warmup"
  while [ "$left" -gt 0 ]; do
    slice="$left"
    [ "$slice" -le "$warmup_slice" ] || slice="$warmup_slice"
    for proto in "${protocol_list[@]}"; do
      measure warmup "$proto" sluice "$slice"
    done
    left=$((left - slice))
  done
fi
for run in "${runs[@]}"; do
  read -r proto p <<<"$run"
  [ "$p" != sluice ] || continue
  measure warmup "$proto" "$p" "$other_warmup"
done
echo "(warm-up runs above are not counted)"
for ((r = 1; r <= rounds; r++)); do
  for run in "${runs[@]}"; do
    read -r proto p <<<"$run"
    measure "round$r" "$proto" "$p" "$duration"
  done
done

# --- summary -------------------------------------------------------------------------------------

median() { # values on stdin, one a line
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
col() { # proto proxy column
  awk -F'\t' -v pr="$1" -v px="$2" -v c="$3" '$1 ~ /^round/ && $2 == pr && $3 == px { print $c }' "$work/results.tsv"
}
total() { col "$@" | awk '{ s += $1 } END { print s + 0 }'; }

declare -A med_rps med_p99
for run in "${runs[@]}"; do
  read -r proto p <<<"$run"
  med_rps["$proto $p"]="$(col "$proto" "$p" 4 | median)"
  med_p99["$proto $p"]="$(col "$proto" "$p" 5 | median)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

proto_name() { if [ "$1" = h1 ]; then echo "HTTP/1.1 (wrk)"; else echo "HTTP/2 h2c (h2load)"; fi; }
{
  echo
  echo "Command: \`$command_line\`"
  echo
  echo "Versions: nginx $nginx_version, HAProxy ${haproxy_version:-(not run)}, wrk ${wrk_version:-?}, h2load ${h2load_version:-?}${sluice_rev:+, Sluice $sluice_rev}; $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), Linux $(uname -r), load average at start $load_at_start"
  echo
  echo "| protocol | proxy | requests/s (median of $rounds) | P99 ms (median) | requests/s vs nginx | P99 vs nginx | proxy CPU (median) | load core busy (median) | other CPU (median) | non-2xx | socket errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for run in "${runs[@]}"; do
    read -r proto p <<<"$run"
    r="${med_rps["$proto $p"]}"
    l="${med_p99["$proto $p"]}"
    if [ -n "${med_rps["$proto nginx"]:-}" ]; then
      rr="$(ratio "$r" "${med_rps["$proto nginx"]}")"
      lr="$(ratio "$l" "${med_p99["$proto nginx"]}")"
    else
      rr="-"; lr="-"
    fi
    pc="$(col "$proto" "$p" 8 | grep -v '^-$' | median || true)"
    lc="$(col "$proto" "$p" 9 | median)"
    oc="$(col "$proto" "$p" 10 | median)"
    printf '| %s | %s | %.0f | %.3f | %s | %s | %s | %s%% | %s%% | %s | %s |\n' "$(proto_name "$proto")" "$p" "$r" \
      "$(awk -v u="$l" 'BEGIN { print u / 1000 }')" "$rr" "$lr" "${pc:+$pc%}" "$lc" "$oc" \
      "$(total "$proto" "$p" 6)" "$(total "$proto" "$p" 7)"
  done
  # Other work on the cores disturbs the figures; a proxy that leaves its core partly idle while
  # the load core is saturated was not the limit.
  for run in "${runs[@]}"; do
    read -r proto p <<<"$run"
    [ "$p" != direct ] || continue
    pc="$(col "$proto" "$p" 8 | median)"
    lc="$(col "$proto" "$p" 9 | median)"
    oc="$(col "$proto" "$p" 10 | median)"
    if awk -v oc="$oc" 'BEGIN { exit !(oc >= 10) }'; then
      echo
      echo "Note: $(proto_name "$proto") $p: other processes took $oc% of a core on the benchmark's cores; the figures are disturbed, rerun on a quiet machine."
    elif awk -v pc="$pc" -v lc="$lc" 'BEGIN { exit !(lc >= 95 && pc < 90) }'; then
      echo
      echo "Note: $(proto_name "$proto") $p used $pc% of its core while the load core was $lc% busy: the client side, not $p, set the pace."
    fi
  done
  if has sluice "${proxy_list[@]}" && has nginx "${proxy_list[@]}"; then
    echo
    for proto in "${protocol_list[@]}"; do
      rr="$(ratio "${med_rps["$proto sluice"]}" "${med_rps["$proto nginx"]}")"
      lr="$(ratio "${med_p99["$proto sluice"]}" "${med_p99["$proto nginx"]}")"
      verdict="$(awk -v r="$rr" -v l="$lr" 'BEGIN { print ((r >= 1 && l <= 1) ? "met" : "not met") }')"
      echo "- $(proto_name "$proto"): Sluice/nginx requests/s **$rr** (target >= 1.00), P99 **$lr** (target <= 1.00): target $verdict."
    done
  fi
  warm="$(awk -F'\t' '$1 == "warmup" && $3 == "sluice" { printf "%s%s %s req/s, P99 %.3f ms", sep, $2, $4, $5 / 1000; sep = "; " }' "$work/results.tsv")"
  if [ -n "$warm" ]; then
    echo
    echo "Sluice warm-up ($warmup s per protocol, not counted): $warm."
  fi
} | tee "$work/summary.md"
