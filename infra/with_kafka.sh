#!/usr/bin/env bash
# Run a command with a local Kafka broker: start it, run the command, always stop it again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3 "$here/kafka_local.py" start
trap 'python3 "$here/kafka_local.py" stop' EXIT INT TERM
"$@"
