#!/usr/bin/env bash
# Runs every ```sh block of README.md, in order, as printed, in one shell, in
# a fresh copy of the repository (with ../shared beside it when it exists),
# so the README cannot drift from the code:
#
#   bash scripts/readme.sh
#
# A block's first line may say how it runs:
#   # serves until Ctrl-C          it runs in the background until its gRPC
#                                  health answers SERVING, and is stopped
#                                  with SIGINT (as Ctrl-C would) before the
#                                  next block that is not marked as below;
#                                  the grpcurl lines it prints are then run
#                                  as a user would paste them
#   # in a second terminal         it runs while the server above serves
#   # the test command             it is not run here: it is what runs this
# Everything else must exit 0. Needs grpcurl (installed with go install at a
# pinned version when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
grpcurl_version=v1.9.3

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

gobin=$(go env GOPATH)/bin
if ! command -v grpcurl >/dev/null 2>&1 && [ ! -x "$gobin/grpcurl" ]; then
  step "installing grpcurl $grpcurl_version"
  go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$grpcurl_version"
fi
export PATH="$PATH:$gobin"

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -INT -- "-$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A fresh copy of the tracked files, as a newcomer's clone holds them.
mkdir -p "$work/leadscore"
git ls-files -z | xargs -0 cp --parents -t "$work/leadscore"
if [ -d "$repo/../shared" ]; then ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"; fi

# Split the README into its sh blocks.
blocks="$work/blocks"
mkdir -p "$blocks"
awk -v dir="$blocks" '
  /^```sh$/ { n++; file = sprintf("%s/%02d.sh", dir, n); inblock = 1; next }
  /^```$/   { inblock = 0; next }
  inblock   { print > file }
' README.md
count=$(ls "$blocks" | wc -l)
[ "$count" -gt 0 ] || fail "README.md has no sh blocks"

cd "$work/leadscore"
# Job control gives each background server its own process group, so that
# SIGINT reaches `go run` and the server it started, as Ctrl-C does.
set -m

stop_server() {
  [ -n "$server_pid" ] || return 0
  step "Ctrl-C to the server (process group $server_pid)"
  kill -INT -- "-$server_pid"
  local code=0
  wait "$server_pid" || code=$?
  server_pid=""
  # A built binary exits 0 after a graceful stop. `go run` reports any
  # interrupted child as exit 1 (the README says so), so under go run the
  # check is that the server stopped, and said so, rather than its code.
  if [ "$server_go_run" = 1 ] && [ "$code" = 1 ]; then code=0; fi
  [ "$code" = 0 ] || fail "the server exited $code after Ctrl-C; its output: $(tail -20 "$work/server.log")"
}
server_go_run=0

wait_serving() {
  local log=$1
  for _ in $(seq 1 600); do
    if grep -q "Serving until Ctrl-C\|\"msg\":\"serving\"" "$log" 2>/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited before serving: $(tail -20 "$log")"
    sleep 0.5
  done
  fail "the server did not serve within 5 minutes: $(tail -20 "$log")"
}

for block in "$blocks"/*.sh; do
  first=$(head -1 "$block")
  case "$first" in
    "# the test command"*)
      step "README block $(basename "$block"): the test command, skipped (it is what runs this)"
      continue ;;
    "# in a second terminal"*) ;;
    *) stop_server ;;
  esac
  step "README block $(basename "$block")"
  cat "$block"
  case "$first" in
    "# serves until Ctrl-C"*)
      server_go_run=0
      if grep -q '^go run ' "$block"; then server_go_run=1; fi
      bash -euo pipefail "$block" > "$work/server.log" 2>&1 &
      server_pid=$!
      wait_serving "$work/server.log"
      cat "$work/server.log"
      # The lines the server printed for people to paste, pasted.
      grep -E '^ +grpcurl ' "$work/server.log" | sed 's/^ *//' > "$work/pasted.sh" || true
      if [ -s "$work/pasted.sh" ]; then
        step "pasting the grpcurl lines it printed"
        while IFS= read -r line; do
          printf '$ %s\n' "$line"
          out=$(bash -c "$line") || fail "a printed line failed: $line"
          printf '%s\n' "$out" | head -12
        done < "$work/pasted.sh"
      fi
      ;;
    *)
      # Sourced, so that exports carry over to later blocks as they would
      # in a user's terminal.
      set +m
      # shellcheck disable=SC1090
      source "$block" || fail "README block $(basename "$block") failed"
      set -m
      ;;
  esac
done
stop_server
step "every README block ran as printed"
