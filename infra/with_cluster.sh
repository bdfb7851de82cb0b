#!/usr/bin/env bash
# Run a command with a local three-broker KRaft cluster (replication factor 3, min.insync.replicas 2):
# start it, run the command with dsom's settings pointing at it, always stop it again.
# Ports: DSOM_KAFKA_PORT, +2, +4 (controllers DSOM_KAFKA_CONTROLLER_PORT, +2, +4); data under $DSOM_RUN_DIR/kafka/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export DSOM_KAFKA_NODES="${DSOM_KAFKA_NODES:-3}"
export DSOM_KAFKA__BOOTSTRAP_SERVERS="$(python3 "$here/kafka_local.py" bootstrap)"
export DSOM_TOPICS__REPLICATION_FACTOR="${DSOM_TOPICS__REPLICATION_FACTOR:-3}"
export DSOM_TOPICS__MIN_INSYNC_REPLICAS="${DSOM_TOPICS__MIN_INSYNC_REPLICAS:-2}"
python3 "$here/kafka_local.py" start
trap 'python3 "$here/kafka_local.py" stop' EXIT INT TERM
"$@"
