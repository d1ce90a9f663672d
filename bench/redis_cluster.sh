# Sourced by bench/cluster.sh and bench/busbench.sh: starts a 3-shard Redis Cluster
# (3 masters + 3 replicas, `redis-server --cluster-enabled yes`) on BASE..BASE+5 and one
# plain redis-server on BASE+6, under a temporary directory; kills them on exit. Sets
# `cluster` (host:port,…) and `single` (its port). CLUSTER_REPLICAS=0 starts the 3 masters
# only (no replica takes each SPUBLISH), to compare the bus's own cost with one Redis's.
#
#   start_redis_cluster BASE_PORT
start_redis_cluster() {
  local base=$1 port i replicas=${CLUSTER_REPLICAS:-1}
  local last=$((replicas > 0 ? 5 : 2))
  redis_tmp=$(mktemp -d)
  redis_pids=()
  trap 'for pid in "${redis_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$redis_tmp"' EXIT
  local nodes=()
  for i in $(seq 0 "$last"); do
    port=$((base + i))
    mkdir -p "$redis_tmp/$port"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --cluster-enabled yes \
      --cluster-node-timeout 2000 --dir "$redis_tmp/$port" --cluster-config-file nodes.conf >/dev/null 2>&1 &
    redis_pids+=($!)
    disown $!
    nodes+=("127.0.0.1:$port")
  done
  single=$((base + 6))
  redis-server --port "$single" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
  redis_pids+=($!)
  disown $!
  sleep 1
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$replicas" --cluster-yes >/dev/null
  until redis-cli -p "$base" cluster info | grep -q cluster_state:ok; do sleep 0.2; done
  if ((replicas > 0)); then sleep 2; fi # the replicas attach
  cluster=$(IFS=,; echo "${nodes[*]}")
  echo "cluster: $cluster; single Redis: 127.0.0.1:$single" >&2
}
