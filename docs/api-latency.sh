#!/bin/bash
# Run from the repository root after `cargo build --release -p vivres` and
# `cargo xtask build-plugins`; needs wrk (apt-get install wrk). Prints wrk's
# latency distributions for both routes at ~500 requests/s each.
# Latency of GET /runs/{id} and GET /health while a full sync runs (release build).
set -e
BIN=${BIN:-target/release/vivres}
SIZE=${SIZE:-1000000}
D=${DATA:-/tmp/vivres-api-latency}; rm -rf $D; mkdir -p $D
coproc SIM { exec $BIN bench-simulator --size $SIZE; }
read -r ADDR <&"${SIM[0]}"
echo "simulator on $ADDR"
cat > $D/vivres.toml <<TOML
[hub]
data_dir = "$D"
plugins_dir = "$PWD/plugins/target/wasm32-wasip2/release"
[privacy]
pseudonym_key = { env = "PERF_KEY" }
[[territories]]
id = "lyon"
name = "Lyon"
epci = ["200046977"]
[[sources]]
id = "garden-lyon"
connector = "cocagne-gardens"
network = "cocagne"
territory = "lyon"
streams = ["subscriptions", "deliveries"]
allowed_hosts = ["$ADDR"]
[sources.config]
base_url = "http://$ADDR/lyon"
token_secret = "api_token"
garden = "jardin-lyon"
page_size = 500
[sources.secrets]
api_token = { value = "token-lyon" }
TOML
export PERF_KEY=perf-pseudonym-key-0123456789abcdef0123
TOKEN=$($BIN --config $D/vivres.toml token create --role admin --name perf 2>/dev/null)
$BIN --config $D/vivres.toml serve --listen 127.0.0.1:18080 2>$D/serve.log &
SERVE=$!
sleep 1
RUN=$(curl -s -X POST -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18080/api/v1/sources/garden-lyon/sync | sed 's/.*"run_id":\([0-9]*\).*/\1/')
echo "run $RUN"
sleep 2
H="Authorization: Bearer $TOKEN"
wrk -t1 -c6 -d${DUR:-10}s --latency -s $(dirname "$0")/api-latency-pace.lua -H "$H" http://127.0.0.1:18080/api/v1/runs/$RUN > $D/runs.txt &
wrk -t1 -c6 -d${DUR:-10}s --latency -s $(dirname "$0")/api-latency-pace.lua http://127.0.0.1:18080/api/v1/health > $D/health.txt
wait %3 2>/dev/null || true
sleep 1
echo "== GET /runs/$RUN"; grep -E "Latency|50%|90%|99%|Requests/sec|requests in|Non-2xx" $D/runs.txt
echo "== GET /health";   grep -E "Latency|50%|90%|99%|Requests/sec|requests in|Non-2xx" $D/health.txt
curl -s -H "$H" http://127.0.0.1:18080/api/v1/runs/$RUN; echo
kill -TERM $SERVE; wait $SERVE || true
exec {SIM[1]}>&-
