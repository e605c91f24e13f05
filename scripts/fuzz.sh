#!/usr/bin/env bash
# Runs every fuzz target of the module (func FuzzXxx in a _test.go file)
# for a short time each, beyond the seed corpus that `go test` runs:
#
#   bash scripts/fuzz.sh [SECONDS]     # default 4 seconds per target
#
# The test command runs it; a longer run on a quiet machine finds more. A
# failure leaves its input under testdata/fuzz/ in the target's package,
# where `go test` then replays it as a seed until it is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-4}
targets=$(grep -rlE --include='*_test.go' '^func Fuzz[A-Z]' . | sort)
[ -n "$targets" ] || { echo "fuzz.sh: no fuzz targets found" >&2; exit 1; }
n=0
for file in $targets; do
  pkg="./$(dirname "${file#./}")"
  for fn in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
    n=$((n + 1))
    printf '==> %s %s (%ss)\n' "$pkg" "$fn" "$secs"
    go test -run '^$' -fuzz "^${fn}\$" -fuzztime "${secs}s" "$pkg" >"${TMPDIR:-/tmp}/fuzz.$$.log" 2>&1 || {
      cat "${TMPDIR:-/tmp}/fuzz.$$.log" >&2
      echo "FAIL: $fn in $pkg found a failing input (kept under $pkg/testdata/fuzz/$fn)" >&2
      exit 1
    }
  done
done
rm -f "${TMPDIR:-/tmp}/fuzz.$$.log"
echo "fuzzed $n targets for ${secs}s each"
