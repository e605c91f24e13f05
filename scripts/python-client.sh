#!/usr/bin/env bash
# python-client.sh: a Python client generated from the protos scores a lead
# and trains a model version.
#
# Generates Python code for proto/leadscore/v1/*.proto (and grpc.health.v1)
# into a temp dir, builds leadscore, runs `leadscore quickstart` on a free
# port until it serves, runs clients/python/score_lead.py and
# clients/python/train_model.py against it, then
# stops the server with SIGINT and checks that it exits 0. Uses Debian's
# /usr/bin/python3 with python3-grpcio and python3-protobuf; installs the
# missing Debian packages when run as root.
set -euo pipefail

cd "$(dirname "$0")/.."
PY=/usr/bin/python3
PKGS=(protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "python-client: missing Debian packages: ${missing[*]} (run as root or apt-get install them)" >&2
		exit 1
	fi
	echo "python-client: installing ${missing[*]}"
	# A fresh machine's package lists may be empty or stale: refresh them
	# first, as scripts/test.sh does for PostgreSQL and Chromium.
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

tmp=$(mktemp -d)
pid=
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -INT "$pid" 2>/dev/null || true
		sleep 2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# Generate. grpc.health.v1 is not shipped as a .proto by Debian, so write
# the standard one under grpc_health/v1 (the module path that the
# grpcio-health-checking package uses).
gen=$tmp/gen
mkdir -p "$gen" "$tmp/extra/grpc_health/v1"
cat >"$tmp/extra/grpc_health/v1/health.proto" <<'EOF'
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health {
  rpc Check(HealthCheckRequest) returns (HealthCheckResponse);
  rpc Watch(HealthCheckRequest) returns (stream HealthCheckResponse);
}
EOF
protoc -I proto -I "$tmp/extra" -I /usr/include \
	--python_out="$gen" --grpc_out="$gen" \
	--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin \
	proto/leadscore/v1/*.proto "$tmp/extra/grpc_health/v1/health.proto"

# Build and serve.
go build -o "$tmp/leadscore" ./cmd/leadscore
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
log=$tmp/quickstart.log
start=$SECONDS
"$tmp/leadscore" quickstart --dir "$tmp/data" --serve=true --grpc-addr "$addr" \
	--admin-addr '' --leads 3000 >"$log" 2>&1 &
pid=$!
until grep -q '^Serving until Ctrl-C\.' "$log"; do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "python-client: quickstart exited before serving:" >&2
		cat "$log" >&2
		exit 1
	fi
	if ((SECONDS - start > 300)); then
		echo "python-client: quickstart did not serve within 5 minutes:" >&2
		cat "$log" >&2
		exit 1
	fi
	sleep 1
done
echo "python-client: quickstart serving on $addr after $((SECONDS - start))s"

# Score.
if ! PYTHONPATH=$gen "$PY" clients/python/score_lead.py --addr "$addr"; then
	echo "python-client: score_lead.py failed; server log:" >&2
	tail -n 30 "$log" >&2
	exit 1
fi

# Train: a training job from the store's history, watched to its end, its
# version and lineage read back.
if ! PYTHONPATH=$gen "$PY" clients/python/train_model.py --addr "$addr"; then
	echo "python-client: train_model.py failed; server log:" >&2
	tail -n 30 "$log" >&2
	exit 1
fi

# Stop.
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
pid=
if ((rc != 0)); then
	echo "python-client: server exited $rc after SIGINT:" >&2
	tail -n 30 "$log" >&2
	exit 1
fi
echo "python-client: server stopped cleanly; PASS"
