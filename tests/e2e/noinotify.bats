#!/usr/bin/env bats
# SPEC 4: "a slow fallback timer only as a safety net". Where a process
# gets no inotify instance (a user's are used up: under mod_fcgid every
# waiting request is a process holding one), a held long poll or stream
# still wakes well under a second after a commit: the loop looks at the
# database file's time a few times a second while requests wait, instead
# of waiting for the 5 s fallback. lighttpd only: its programs start with
# the server, while the limit is held at 0 (Apache's start on demand).

load helper

setup_file() {
	LIMIT=/proc/sys/fs/inotify/max_user_instances
	if [ "$PL_SERVER" != lighttpd ] || ! { : >>"$LIMIT"; } 2>/dev/null; then
		export PL_NOINOTIFY_SKIP="lighttpd only, and root with a writable $LIMIT"
		return 0
	fi
	old=$(cat "$LIMIT")
	echo 0 >"$LIMIT"
	pl_setup_server
	sleep 1
	echo "$old" >"$LIMIT"
}
teardown_file() { [ -n "${PL_NOINOTIFY_SKIP:-}" ] || pl_teardown_server; }

setup() {
	[ -z "${PL_NOINOTIFY_SKIP:-}" ] || skip "$PL_NOINOTIFY_SKIP"
	pl_need longpoll
}

@test "without inotify a held long poll and a stream still wake within a second of a publish" {
	T=$(pl_topic)
	grep -q 'inotify_init1.*falling back' "$PL_STATE"/*.out "$PL_STATE"/*.log 2>/dev/null ||
		skip "the programs got an inotify instance after all"
	out=$BATS_TEST_TMPDIR/st
	curl -sS -N --max-time 6 -o "$out" "$PL_URL/push/stream?topic=$T&format=ndjson" 2>/dev/null 3>&- &
	spid=$!
	t0=$(pl_now_ms)
	(sleep 0.5; pl_pub "$T" late >/dev/null) 3>&- &
	BODY=$(curl -sS --max-time 10 "$PL_URL/push/longpoll?topic=$T&timeout=8")
	el=$(( $(pl_now_ms) - t0 ))
	pl_jq_true '[.messages[].data] == ["late"]' || pl_fail "long poll: $BODY"
	(( el < 3000 )) || pl_fail "the long poll was answered $el ms after it asked, for a publish at 500 ms (the 5 s fallback?)"
	wait_for 2 grep -q '"data":"late"' "$out" || pl_fail "the stream did not get it within a second: $(cat "$out")"
	kill "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
}
