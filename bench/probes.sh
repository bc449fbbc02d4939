#!/usr/bin/env bash
# Probe benchmark: fresh-connection HTTP GETs and TCP connects against a local C server, CurlEngine
# next to plain C loops measured in the same run. Prints figures; asserts nothing.
# usage (from the repo root): bench/probes.sh [N] [CONCURRENCY]     default 10000 checks, 100 in flight
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
C=${2:-100}
out=bench/out
mkdir -p "$out"
for f in httpd curl_multi tcp_connect; do
    cc -O2 -Wall -o "$out/$f" "bench/c/$f.c" -lcurl
done
swift build -c release --package-path bench/swift >/dev/null
swift_bench="$(swift build -c release --package-path bench/swift --show-bin-path)/probe-bench"

"$out/httpd" > "$out/httpd.port" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do [ -s "$out/httpd.port" ] && break; sleep 0.1; done
port=$(cat "$out/httpd.port")
url="http://127.0.0.1:$port/"

echo "HTTP GET, fresh connection each, $N checks, $C concurrent (server: bench/c/httpd.c, port $port)"
"$out/curl_multi" "$url" "$N" "$C"
"$swift_bench" http "$url" "$N" "$C"
echo
echo "TCP connect, $N checks, $C concurrent"
"$out/tcp_connect" raw "$port" "$N" "$C"
"$out/tcp_connect" curl "$port" "$N" "$C"
"$swift_bench" tcp "$port" "$N" "$C"
echo
echo "Hard timeout: checks against a server that never answers"
"$swift_bench" hang "${url}hang" 100 300
