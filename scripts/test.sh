#!/usr/bin/env bash
# The whole leadscore test suite, as a newcomer and CI run it:
#
#   bash scripts/test.sh
#
# It starts the local PostgreSQL if it is installed but down (and installs it
# from the distribution's packages when it is missing and we are root),
# creates the test database, installs Chromium when it is missing (the
# evaluator's tests render the HTML backtest report in headless Chromium;
# as root or with passwordless sudo), downloads the pinned Go modules and
# tools, and then runs, failing on the first problem:
#   gofmt, go mod tidy check, go vet, buf lint, buf format, protobuf
#   regeneration (no diff allowed), go test -race over every package, every
#   command block of README.md in order, as printed (scripts/readme.sh), and
#   the Python clients generated from the protos. The fuzz targets' seeds run
#   with the tests; `bash scripts/fuzz.sh [SECONDS]` fuzzes each beyond them.
#
# LEADSCORE_TEST_DATABASE_URL points the tests at another database.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

export LEADSCORE_TEST_DATABASE_URL="${LEADSCORE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/leadscore_test?sslmode=disable}"
buf=(go tool -modfile=tools/go.mod buf)

step "PostgreSQL"
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL is not installed; installing it from the distribution's packages"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    fail "PostgreSQL is not installed; install it (Debian: apt-get install postgresql) or set LEADSCORE_TEST_DATABASE_URL"
  fi
fi
if ! pg_ready; then
  for version in $(ls /etc/postgresql 2>/dev/null); do
    echo "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  pg_ready || fail "PostgreSQL did not start on 127.0.0.1:5432"
fi
echo "PostgreSQL answers on 127.0.0.1:5432"

step "test database"
db_name=$(printf '%s' "$LEADSCORE_TEST_DATABASE_URL" | sed -E 's#^[a-z]+://[^/]*/([^?]*).*#\1#')
admin_url=$(printf '%s' "$LEADSCORE_TEST_DATABASE_URL" | sed -E 's#^([a-z]+://[^/]*)/[^?]*#\1/postgres#')
if [ "$(psql "$admin_url" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db_name'")" != 1 ]; then
  psql "$admin_url" -qc "CREATE DATABASE \"$db_name\"" || fail "could not create database $db_name"
  echo "created database $db_name"
else
  echo "database $db_name exists"
fi

step "Chromium"
# The HTML backtest report's acceptance test opens it in headless Chromium
# (Debian's chromium package) and checks a screenshot.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
    echo "Chromium is not installed; installing it from the distribution's packages"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    fail "Chromium is not installed; install it (Debian: apt-get install -y chromium): the evaluator's tests render the HTML report in headless Chromium"
  fi
fi
chromium --version 2>/dev/null || fail "chromium is installed but does not run"

step "Go modules and pinned tools"
go mod download
(cd tools && go mod download)
"${buf[@]}" --version

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
[ -z "$unformatted" ] || fail "gofmt would change: $unformatted"

step "go mod tidy"
go mod tidy -diff || fail "go.mod/go.sum are not tidy; run go mod tidy"
(cd tools && go mod tidy -diff) || fail "tools/go.mod is not tidy; run (cd tools && go mod tidy)"

step "go vet"
go vet ./...

step "buf lint"
"${buf[@]}" lint

step "buf format"
"${buf[@]}" format --diff --exit-code || fail "buf format would change the .proto files; run buf format -w"

step "protobuf regeneration"
"${buf[@]}" generate
if [ -d .git ]; then
  changed=$(git status --porcelain -- proto)
  [ -z "$changed" ] || { git diff -- proto | head -50; fail "regenerating the protobuf code changed: $changed"; }
fi
for generated in $(find proto -name '*.pb.go'); do
  source="${generated%_grpc.pb.go}"; source="${source%.pb.go}.proto"
  [ -f "$source" ] || fail "$generated has no $source: remove the stale generated file"
done
echo "generated code matches the .proto files"

step "go test -race"
go test -race -count=1 -timeout 25m ./...

step "README command blocks, in order, as printed"
bash scripts/readme.sh

step "a Python client generated from the protos scores a lead"
bash scripts/python-client.sh
