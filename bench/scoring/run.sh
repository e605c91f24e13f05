#!/usr/bin/env bash
# The scoring benchmark: leadscore's ScoringService, served by the real
# `leadscore serve` binary, against a floor of bare grpc-go (no
# interceptors, no stats handler, no logging) that returns leadscore's own
# captured responses, side by side in one run on this machine:
#
#   bash bench/scoring/run.sh [--duration 4s] [--warmup 1s] [--rounds 2] [--c 64]
#                             [--rows 50000] [--cpuprofile] [--profile-duration 10s]
#                             [--rev REV] [--out DIR]
#
# It trains a 200-tree depth-6 GBDT on 30 numeric features (the GBDT
# benchmark's synthetic table, bench/gbdt/synth) with `leadscore train`,
# registers it and force-promotes it to default@champion in a fresh
# embedded store, serves it with `leadscore serve --admin-addr ''
# --log-level warn` (its other flags and the OTEL_* environment as they
# are: with no OTLP endpoint a root span is not sampled) and starts the floor.
# Then, scenario by scenario: Score of one 30-attribute inline lead at
# concurrency 1 (latency percentiles) and C (throughput), with
# explanations off and on; StreamScore over 4 streams of 500-item chunks
# of rows (the compact item form, columns declared once; leads/s); grpc.health.v1 Health/Check at concurrency 1 and C. Each
# scenario runs ROUNDS measured windows per server, the servers taking
# turns to go first, and the windows are pooled. Callers share one client
# connection per 16, for both servers. The client runs on the same cores as
# the servers, so the servers' CPU time per call (from /proc) is printed
# too: it is the figure least skewed by the client and by other work on
# the machine, whose load average is printed before and after. It prints
# the table, the ratios leadscore/floor, the issue's targets, leadscore's
# RSS (after start, before load, after load) and a JSON line; it exits
# non-zero only on errors, not on a missed target.
#
# --cpuprofile then runs leadscore's server in-process (scorebench serve,
# wired as cmd/leadscore's serve, with net/http/pprof on the side) and
# takes CPU profiles of it and of the floor under Score load at
# concurrency C, and of it with explanations on; it prints each profile's
# top 15 functions and how the server's CPU per call divides between the
# stats handler, the interceptors, the handler and its parts, proto,
# the transport and the runtime.
#
# --rev REV builds leadscore and the benchmark's packages from the git
# revision REV (with this working tree's bench/scoring) in a temporary
# directory, for when the working tree does not build. --out DIR keeps the
# JSON line, the profiles and the scorebench binary they name.
#
# It needs Go; every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

duration=4s warmup=1s rounds=2 conc=64 rows=50000 cpuprofile=0 profdur=10s rev= out=
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --c) conc=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --cpuprofile) cpuprofile=1; shift ;;
    --profile-duration) profdur=$2; shift 2 ;;
    --rev) rev=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ -n "$out" ]; then
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop ends one process this script started and waits for it.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

src=.
if [ -n "$rev" ]; then
  src=$work/src
  mkdir "$src"
  git archive "$rev" | tar -x -C "$src"
  rm -rf "$src/bench/scoring"
  cp -r bench/scoring "$src/bench/scoring"
  echo "building from $rev ($(git rev-parse --short "$rev")) with this tree's bench/scoring" >&2
fi
(cd "$src" && go build -o "$work/leadscore" ./cmd/leadscore && go build -o "$work/scorebench" ./bench/scoring)
ls=$work/leadscore sb=$work/scorebench db=$work/store/leadscore.db
mkdir -p "$work/store" "$work/captured"

echo "preparing the model: 200 trees, depth 6, 30 numeric features, $rows rows..." >&2
"$sb" gen -out "$work/table.csv" -rows "$rows"
"$ls" train --table "$work/table.csv" --label won --family gbdt --tune=false --trees 200 --depth 6 \
  --refit=false --out "$work/model.lsm" >&2
"$ls" register --model default "$work/model.lsm" --store "$db" >&2
"$ls" promote default/versions/1 --force --reason bench --store "$db" >&2

read -r ls_port floor_port floor_pprof prof_port prof_pprof <<<"$("$sb" ports 5 | tr '\n' ' ')"
"$ls" serve --no-auth --store "$db" --grpc-addr "127.0.0.1:$ls_port" --admin-addr '' --log-level warn 2>"$work/serve.log" &
ls_pid=$!
pids+=("$ls_pid")
if ! "$sb" wait -addr "127.0.0.1:$ls_port" -service leadscore.v1.ScoringService -timeout 60s; then
  cat "$work/serve.log" >&2
  exit 1
fi
rss_start=$(awk '/^VmRSS:/ {print $2}' "/proc/$ls_pid/status")

"$sb" capture -addr "127.0.0.1:$ls_port" -dir "$work/captured"
"$sb" floor -addr "127.0.0.1:$floor_port" -dir "$work/captured" -pprof-addr "127.0.0.1:$floor_pprof" &
floor_pid=$!
pids+=("$floor_pid")
"$sb" wait -addr "127.0.0.1:$floor_port" -timeout 30s

"$sb" load -leadscore "127.0.0.1:$ls_port" -floor "127.0.0.1:$floor_port" \
  -leadscore-pid "$ls_pid" -floor-pid "$floor_pid" -rss-start-kib "$rss_start" \
  -duration "$duration" -warmup "$warmup" -rounds "$rounds" -c "$conc" ${out:+-json "$out/scoring.json"}
if [ -s "$work/serve.log" ]; then
  echo "leadscore serve wrote (warn and above):" >&2
  head -20 "$work/serve.log" >&2
fi
stop "$ls_pid"

[ "$cpuprofile" = 1 ] || exit 0

"$sb" serve -store "$db" -addr "127.0.0.1:$prof_port" -pprof-addr "127.0.0.1:$prof_pprof" 2>"$work/prof.log" &
prof_pid=$!
pids+=("$prof_pid")
"$sb" wait -addr "127.0.0.1:$prof_port" -service leadscore.v1.ScoringService -timeout 60s
echo
echo "CPU profiles under Score load at c$conc (load average before: $(cut -d' ' -f1-3 /proc/loadavg)):"
"$sb" profile -name leadscore -addr "127.0.0.1:$prof_port" -pid "$prof_pid" -pprof-addr "127.0.0.1:$prof_pprof" \
  -out "$work/leadscore.pprof" -duration "$profdur" -c "$conc"
"$sb" profile -name floor -addr "127.0.0.1:$floor_port" -pid "$floor_pid" -pprof-addr "127.0.0.1:$floor_pprof" \
  -out "$work/floor.pprof" -duration "$profdur" -c "$conc"
"$sb" profile -name leadscore -explain -addr "127.0.0.1:$prof_port" -pid "$prof_pid" -pprof-addr "127.0.0.1:$prof_pprof" \
  -out "$work/leadscore-explain.pprof" -duration "$profdur" -c "$conc"
"$sb" profile -name leadscore -stream -addr "127.0.0.1:$prof_port" -pid "$prof_pid" -pprof-addr "127.0.0.1:$prof_pprof" \
  -out "$work/leadscore-stream.pprof" -duration "$profdur"
"$sb" profile -name floor -stream -addr "127.0.0.1:$floor_port" -pid "$floor_pid" -pprof-addr "127.0.0.1:$floor_pprof" \
  -out "$work/floor-stream.pprof" -duration "$profdur"
stop "$prof_pid"
profiles=(leadscore floor leadscore-explain leadscore-stream floor-stream)
if [ -n "$out" ]; then
  for p in "${profiles[@]}"; do cp "$work/$p.pprof" "$out/"; done
  cp "$sb" "$out/scorebench"
fi

for p in "${profiles[@]}"; do
  echo
  echo "== $p: top 15 of the server's CPU profile under its load (flat; Score c$conc, or StreamScore for the -stream ones) =="
  go tool pprof -top -nodecount=15 "$sb" "$work/$p.pprof" 2>/dev/null | sed -n '/^Duration/p;/flat%/,$p'
done

# share prints the percentage of a profile's samples with a frame matching
# the regular expression $2 (cumulative: the function and what it calls)
# and none matching $3.
share() {
  go tool pprof -top -nodecount=1000000 -focus="$2" ${3:+-ignore="$3"} "$1" 2>/dev/null |
    sed -n 's/^Showing nodes accounting for [^,]*, \([0-9.]*\)% of .*/\1/p' | head -1
}
echo
echo "== where the server's CPU per Score call goes: cumulative share of the profile's samples, and that share of the"
echo "   server's CPU µs per call during the profile (rows overlap: a row counts a function and what it calls) =="
row() {
  local label=$1 focus=$2 ignore=$3
  printf '%-52s' "$label"
  for p in "${profiles[@]}"; do
    printf ' %18s' "$(awk -v s="$(share "$work/$p.pprof" "$focus" "$ignore")" -v u="$(cat "$work/$p.pprof.cpu_us")" \
      'BEGIN {printf "%5.1f%% %7.1f µs", s, s*u/100}')"
  done
  echo
}
printf '%-52s' ""
for p in "${profiles[@]}"; do printf ' %18s' "$p"; done
echo
printf '%-52s' "server CPU per call (µs)"
for p in "${profiles[@]}"; do printf ' %18s' "$(cat "$work/$p.pprof.cpu_us")"; done
echo
handler='(scoringService|floorService)\)\.Score$'
while IFS='@' read -r label focus ignore; do
  row "$label" "$focus" "$ignore"
done <<EOF
otelgrpc stats handler (TagRPC, HandleRPC)@otelgrpc@
  of which spans (otel sdk/trace)@otel/sdk/trace@
  of which attribute sets (otel/attribute)@otel/attribute@
  of which metrics (otel sdk/metric)@otel/sdk/metric@
interceptors' own work (log, recover, map errors)@server\.\(\*Server\)\.(logUnary|recoverUnary|mapErrorsUnary)@$handler
Score handler@$handler@
  parse options and item@server\.(parseScoreOptions|parseItem)@
  featurize (Featurizer.Compute)@Featurizer\)\.Compute@
  model (Scorer.Score)@model\.\(\*Scorer\)\.Score\$@
  explain (Scorer.Explain, TopFactors, factors)@model\.\(\*Scorer\)\.Explain|TopFactors|factorsProto@
  scratch pool misses (NewScorer, Model.Validate)@newServedModel\.func1@
  resolve the model version@modelSet\)\.resolve@
  fill the response@server\.fillScore@
request: receive and unmarshal@recvAndDecompress|codecV2\)\.Unmarshal@
response: marshal@codecV2\)\.Marshal@
transport reader and writer (HandleStreams, loopy)@http2Server\)\.HandleStreams|loopyWriter@
syscalls (socket reads and writes)@syscall\.|runtime/syscall@
goroutine stack growth (newstack, copystack)@runtime\.newstack@
asynchronous preemption (asyncPreempt)@runtime\.asyncPreempt@
memory allocation (mallocgc)@runtime\.mallocgc@
garbage collection (background and assists)@gcBgMarkWorker|gcAssistAlloc@
scheduler (schedule, findRunnable)@runtime\.(schedule|findRunnable)@
EOF
