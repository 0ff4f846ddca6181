#!/usr/bin/env bats
# A stream's head reaches the client at once in every format, on every
# server, long before its first heartbeat (heartbeat = 30 here): a client
# learns at once that its stream is open. Some web servers (Apache) pass the
# head on only with the first body bytes, so every format begins with some.

load helper

setup_file() { pl_setup_server heartbeat=30 stream_max_time=40; }
teardown_file() { pl_teardown_server; }

setup() { pl_need stream publish; }

@test "every stream format: head and first bytes within 3 s with heartbeat = 30, then the message" {
	T=$(pl_topic)
	for fmt in sse ndjson json jsonp js xml; do
		out=$BATS_TEST_TMPDIR/head.$fmt
		t0=$(pl_now_ms)
		curl -sS -N -g --max-time 40 -D "$out.h" -o "$out" \
			"$PL_URL/push/stream?topic=$T&format=$fmt&callback=cb" 2>"$out.err" 3>&- &
		pid=$!
		wait_for 10 test -s "$out.h" || { kill "$pid"; pl_fail "$fmt: no head $(( $(pl_now_ms) - t0 )) ms after the request"; }
		HEADERS=$out.h
		PL_LAST="stream $fmt"
		grep -q '^HTTP/[0-9.]* 200' "$HEADERS" || { cat "$HEADERS" >&2; kill "$pid"; pl_fail "$fmt: not 200"; }
		pl_pub "$T" "head test $fmt"
		wait_for 10 grep -q "head test $fmt" "$out" || { kill "$pid"; cat "$out" >&2; pl_fail "$fmt: message not streamed"; }
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		echo "# $fmt: head and message within $(( $(pl_now_ms) - t0 )) ms" >&3
	done
}

@test "a client that leaves a stream frees its slot within seconds, long before the next heartbeat (30 s)" {
	# Apache learns of a departed client only when a write to it fails:
	# streams write an insignificant line every longpoll_keepalive seconds
	# between heartbeats there; lighttpd passes the client's FIN on at once.
	T=$(pl_topic)
	# the streams of the test before may still be leaving: start from none
	none() { [ "$(pl_stat waiting)" = 0 ]; }
	wait_for 40 none || pl_fail "waiting is $(pl_stat waiting) before the test"
	base=0
	pids=()
	for fmt in sse ndjson js; do
		curl -sS -N --max-time 40 -o /dev/null "$PL_URL/push/stream?topic=$T&format=$fmt&callback=cb" 2>/dev/null 3>&- &
		pids+=($!)
	done
	held() { [ "$(pl_stat waiting)" -ge $(( base + 3 )) ]; }
	wait_for 10 held || pl_fail "waiting is $(pl_stat waiting), not $(( base + 3 ))"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	t0=$(pl_now_ms)
	freed() { [ "$(pl_stat waiting)" -le "$base" ]; }
	wait_for 12 freed || pl_fail "waiting still $(pl_stat waiting) 12 s after the clients left (base $base)"
	echo "# freed $(( $(pl_now_ms) - t0 )) ms after the clients left" >&3
}
