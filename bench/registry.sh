#!/usr/bin/env bash
# A docker-registry (Debian's CNCF distribution registry) for the bench, on
# 127.0.0.1, plain HTTP, its storage and state in DIR:
#   registry.sh start DIR   start it on a free port (the same port again when
#                           DIR/addr exists); prints HOST:PORT once it answers
#   registry.sh stop DIR    stop it (by the PID in DIR/pid)
#   registry.sh reset DIR   stop, empty the storage, start on the same port:
#                           a registry that has never seen a blob
set -euo pipefail
cmd=${1:-} dir=${2:-}
[[ -n $cmd && -n $dir ]] || { echo "usage: $0 start|stop|reset DIR" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

stop() {
	local pid
	[[ -s $dir/pid ]] || return 0
	pid=$(cat "$dir/pid")
	rm -f "$dir/pid"
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null || true
}

start() {
	local addr
	if [[ -s $dir/addr ]]; then
		addr=$(cat "$dir/addr")
	else
		addr=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		echo "$addr" >"$dir/addr"
	fi
	printf '%s\n' "version: 0.1" "log:" "  level: error" "  accesslog:" "    disabled: true" \
		"storage:" "  filesystem:" "    rootdirectory: $dir/storage" "  delete:" "    enabled: true" \
		"http:" "  addr: $addr" "  secret: bench-upload-secret" >"$dir/config.yml"
	# setsid: not in the caller's process group, so the caller's Ctrl-C
	# handling and its `wait` do not depend on it; stopped by PID
	setsid docker-registry serve "$dir/config.yml" >>"$dir/log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
	for _ in $(seq 200); do
		if curl -s -o /dev/null --max-time 2 "http://$addr/v2/"; then
			echo "$addr"
			return 0
		fi
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
		sleep 0.05
	done
	echo "bench: docker-registry did not start on $addr: $(tail -n 5 "$dir/log")" >&2
	stop
	return 1
}

case $cmd in
	start) stop; start ;;
	stop) stop ;;
	reset) stop; rm -rf "$dir/storage"; start >/dev/null ;;
	*) echo "usage: $0 start|stop|reset DIR" >&2; exit 2 ;;
esac
