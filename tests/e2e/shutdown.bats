#!/usr/bin/env bats
# SPEC 1 and 3: the web server owns the programs. When it stops, they stop
# too (libfcgi's own SIGTERM handling must not keep them alive); what was
# acknowledged survives a restart.

load helper

setup() { pl_setup_server; }
teardown() { pl_teardown_server; }

@test "every program exits within 5 s when the web server stops" {
	T=/down
	pl_pub "$T" x
	pl_poll "topic=$T"
	pl_get /push/health
	if [ -x "$PL_BIN/longpoll" ]; then
		pl_req GET "/push/longpoll?topic=$T&since=0&timeout=1"
	fi
	spid=$(pl_server_pid "$PL_STATE")
	progs=$(for p in $(pgrep -g "$spid"); do
		[ "$p" = "$spid" ] && continue
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		case $exe in "$PL_BIN"/*) echo "$p" ;; esac
	done)
	[ -n "$progs" ] || pl_fail "no program process found"
	kill -TERM "$spid"
	gone() { ! pl_pid_alive "$1"; }
	wait_for 10 gone "$spid" || pl_fail "server did not stop"
	left() {
		local p
		for p in $progs; do pl_pid_alive "$p" && echo "$p:$(readlink /proc/$p/exe)"; done
	}
	none_left() { [ -z "$(left)" ]; }     # a function: each try looks again
	wait_for 5 none_left || pl_fail "still running 5 s after the server stopped: $(left)"
}

@test "acknowledged messages survive a server restart; ids go on" {
	pl_pub /restart kept
	id=$PUB_ID
	pl_server_stop "$PL_STATE"
	pl_server_start "$PL_SERVER" "$PL_STATE"
	pl_server_wait "$PL_SERVER" "$PL_STATE" "$PL_PORT" 20
	pl_poll "topic=/restart&since=all"
	pl_expect_status 200
	pl_jq_true --argjson id "$id" '[.messages[].id] == [$id] and .messages[0].data == "kept"'
	pl_pub /restart after
	(( PUB_ID > id ))
}
