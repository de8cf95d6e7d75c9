#!/usr/bin/env bash
# Runs a command with the state stores' real servers started on loopback:
#
#   dynalite               (DynamoDB API; npm, installed into .cache/node)  -> DYNAMODB_ENDPOINT
#   redis-server           (Debian package, installed if missing)          -> REDIS_ADDR
#   Firestore emulator     (gcloud emulators firestore start)              -> FIRESTORE_EMULATOR_HOST
#
# Usage: scripts/test-services.sh go test ./core/store/...
#        SERVICES="redis dynamodb" scripts/test-services.sh make unit
#
# Each server gets a free port and a scratch directory, and is stopped (its
# whole process group) when the command ends, however it ends. A server that
# cannot be installed or started is reported here, loudly, with the reason,
# and its tests skip with the same reason (STATE_TEST_SKIP_<NAME>); the
# command still runs. The exit status is the command's.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/gateway-services.XXXXXX")
services=${SERVICES:-"dynamodb redis firestore"}
pids=()
skipped=()

say() { echo "test-services: $*" >&2; }

cleanup() {
	for pid in "${pids[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	done
	rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' && return
	fi
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	return 1
}

# wait_port PORT SECONDS PID: until something listens on PORT (or PID dies).
wait_port() {
	local port=$1 secs=$2 pid=$3 i
	for i in $(seq 1 $((secs * 10))); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start NAME LOG CMD...: runs CMD in its own process group.
start() {
	local name=$1 log=$2
	shift 2
	setsid "$@" >"$log" 2>&1 &
	last_pid=$!
	pids+=("$last_pid")
}

skip() {
	local name=$1 reason=$2
	skipped+=("$name: $reason")
	export "STATE_TEST_SKIP_$name=$reason"
	say "SKIP $name tests: $reason"
}

start_dynamodb() {
	local cli="$cache/node/node_modules/dynalite/cli.js"
	if [ ! -f "$cli" ]; then
		if ! command -v npm >/dev/null 2>&1; then
			skip DYNAMODB "npm is not installed (needed to install dynalite)"
			return
		fi
		say "installing dynalite into $cache/node"
		mkdir -p "$cache/node"
		if ! npm install --prefix "$cache/node" --no-audit --no-fund --loglevel=error dynalite@4 >"$scratch/npm.log" 2>&1; then
			skip DYNAMODB "npm install dynalite failed: $(tail -3 "$scratch/npm.log" | tr '\n' ' ')"
			return
		fi
	fi
	local port
	port=$(free_port) || { skip DYNAMODB "no free port"; return; }
	start DYNAMODB "$scratch/dynalite.log" node "$cli" --host 127.0.0.1 --port "$port" \
		--createTableMs 0 --deleteTableMs 0 --updateTableMs 0
	if wait_port "$port" 30 "$last_pid"; then
		export DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
		# Tests that kill and restart a private dynalite start this one.
		export DYNALITE_CLI="$cli"
		say "dynalite on $DYNAMODB_ENDPOINT"
	else
		skip DYNAMODB "dynalite did not start: $(tail -3 "$scratch/dynalite.log" | tr '\n' ' ')"
	fi
}

start_redis() {
	if ! command -v redis-server >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
			say "installing redis-server (apt-get)"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >"$scratch/apt.log" 2>&1 ||
				{ apt-get update -q >>"$scratch/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >>"$scratch/apt.log" 2>&1; }
		fi
		if ! command -v redis-server >/dev/null 2>&1; then
			skip REDIS "redis-server is not installed and could not be installed (apt-get install redis-server needs root)"
			return
		fi
	fi
	local port
	port=$(free_port) || { skip REDIS "no free port"; return; }
	mkdir -p "$scratch/redis"
	start REDIS "$scratch/redis.log" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--dir "$scratch/redis" --daemonize no
	if wait_port "$port" 15 "$last_pid"; then
		export REDIS_ADDR="127.0.0.1:$port"
		say "redis-server on $REDIS_ADDR"
	else
		skip REDIS "redis-server did not start: $(tail -3 "$scratch/redis.log" | tr '\n' ' ')"
	fi
}

start_firestore() {
	if ! command -v gcloud >/dev/null 2>&1; then
		skip FIRESTORE "gcloud (Google Cloud CLI) is not installed, so the Firestore emulator is not available"
		return
	fi
	if ! command -v java >/dev/null 2>&1; then
		skip FIRESTORE "java is not installed (the Firestore emulator needs it)"
		return
	fi
	local port
	port=$(free_port) || { skip FIRESTORE "no free port"; return; }
	# The emulator answers "Ok" on / once it serves; it takes a few seconds (JVM start).
	start FIRESTORE "$scratch/firestore.log" gcloud emulators firestore start --quiet \
		--host-port="127.0.0.1:$port"
	local i
	for i in $(seq 1 900); do
		if curl -fsS "http://127.0.0.1:$port/" 2>/dev/null | grep -q Ok; then
			export FIRESTORE_EMULATOR_HOST="127.0.0.1:$port"
			say "Firestore emulator on $FIRESTORE_EMULATOR_HOST (ready after $((i / 10)).$((i % 10))s)"
			return
		fi
		kill -0 "$last_pid" 2>/dev/null || break
		sleep 0.1
	done
	skip FIRESTORE "the Firestore emulator did not start: $(grep -v '^\s*$' "$scratch/firestore.log" | tail -3 | tr '\n' ' ')"
}

if [ $# -eq 0 ]; then
	echo "usage: $0 command [args...]" >&2
	exit 2
fi

for s in $services; do
	case $s in
	dynamodb) start_dynamodb ;;
	redis) start_redis ;;
	firestore) start_firestore ;;
	*) say "unknown service $s (want dynamodb, redis, firestore)"; exit 2 ;;
	esac
done

"$@"
status=$?
for s in "${skipped[@]}"; do
	say "SKIPPED $s"
done
exit $status
