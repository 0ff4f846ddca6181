#!/usr/bin/env bats
# The cost of a wake (lib/pl_wait.c): a process holding many long polls reads
# what is new ONCE per wake and matches it in memory, so a publish to a topic
# its waiters do not follow costs it about one store query, not one per
# waiter. Each longpoll/stream process counts its store queries on the second
# line of its DB.waiting/PID file (lib/pl_waiting.h); this checks the count.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

setup() { pl_need longpoll publish admin; }

# counts: "PID WAITING QUERIES" for every process file in DB.waiting/
counts() {
	local f
	for f in "$PL_DB".waiting/[0-9]*; do
		[ -f "$f" ] || continue
		echo "${f##*/} $(sed -n 1p "$f") $(sed -n 2p "$f")"
	done
}

@test "waiters on one topic, publishes to another: a few store queries per process per publish, none answered" {
	# Under mod_fcgid every held long poll is a process of its own, so
	# fewer of them; the check per process is the same.
	n=50
	[ "$PL_SERVER" = apache ] && n=10
	P=20
	T=$(pl_topic)
	d=$BATS_TEST_TMPDIR
	w0=$(pl_stat waiting)
	for i in $(seq "$n"); do
		curl -sS -g --max-time 40 -o "$d/lp.$i" "$PL_URL/push/longpoll?topic=$T/a&timeout=30" \
			2>"$d/lp.$i.err" 3>&- &
		pids+=($!)
	done
	held() { [ "$(pl_stat waiting)" -ge $(( w0 + n )) ]; }
	wait_for 20 held || pl_fail "only $(pl_stat waiting) held"
	sleep 0.5   # the files are written at most every 100 ms
	counts >"$d/before"
	awk 'NF == 3 && $3 ~ /^[0-9]+$/' "$d/before" | grep -q . ||
		pl_fail "no store query count in the waiting files: $(cat "$d/before")"
	for i in $(seq "$P"); do
		pl_pub "$T/b" "not for a"
	done
	sleep 0.5
	counts >"$d/after"
	# Per process that held a waiter before: the queries its wakes made.
	# One wake per publish and one re-check 20 ms later are two queries
	# (measured: exactly 2 x P); allow 3 per publish for a wake split in
	# two, plus the fallback re-check every 5 s. Querying per waiter would
	# take n x P (1,000) in the one lighttpd process.
	deltas=$(awk 'NR == FNR { q[$1] = $3; w[$1] = $2; next }
		($1 in q) && w[$1] > 0 { print $1, w[$1], $3 - q[$1] }' "$d/before" "$d/after")
	echo "pid waiting queries: $deltas"
	[ -n "$deltas" ] || pl_fail "no process held a waiter: $(cat "$d/before")"
	echo "$deltas" | awk -v max=$(( 3 * P + 5 )) '$3 > max { bad = 1 } END { exit bad }' ||
		pl_fail "more than $(( 3 * P + 5 )) store queries for $P publishes in one process: $deltas"
	echo "$deltas" | awk -v p="$P" '$3 >= p / 2 { ok = 1 } END { exit !ok }' ||
		pl_fail "the wakes were not counted (fewer than $(( P / 2 )) queries): $deltas"
	[ "$(pl_stat waiting)" -ge $(( w0 + n )) ] || pl_fail "a waiter was answered: $(pl_stat waiting) held"
	# One publish to their topic answers every one of them.
	pl_pub "$T/a" "for a"
	for i in $(seq "$n"); do
		wait "${pids[$((i - 1))]}" || true
		grep -q '"for a"' "$d/lp.$i" || pl_fail "waiter $i got: $(cat "$d/lp.$i" "$d/lp.$i.err")"
	done
}

@test "the first waiter after an idle spell: its wake does not read what was committed while nothing was held" {
	[ "$PL_SERVER" = apache ] && skip "under mod_fcgid a process serves one held request and exits"
	T=$(pl_topic)
	d=$BATS_TEST_TMPDIR
	# every longpoll process has served (and so opened the store), then idles
	for i in 1 2 3 4; do pl_get "/push/longpoll?topic=$T/warm&timeout=0" >/dev/null; done
	# 20,000 rows on another topic while nothing is held
	for b in 1 2; do
		for i in $(seq 1 10000); do printf '{"topic":"%s/other","data":%d}\n' "$T" "$i"; done >"$d/b"
		pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "@$d/b"
		pl_expect_status 201
	done
	sleep 0.3
	counts >"$d/before"
	curl -sS -g --max-time 20 -o "$d/lp" "$PL_URL/push/longpoll?topic=$T/a&timeout=10" 3>&- &
	lp=$!
	one() { [ "$(pl_stat waiting)" -ge 1 ]; }
	wait_for 10 one || pl_fail "the long poll is not held"
	pl_pub "$T/b" "wakes it, not for it"
	pl_pub "$T/a" "for it"
	wait "$lp" || true
	grep -q '"for it"' "$d/lp" || pl_fail "the waiter got: $(cat "$d/lp")"
	sleep 0.3
	counts >"$d/after"
	# Its own query, one or two per wake: a handful. Reading the 20,000
	# rows of the idle spell would take 20 more (1,000 rows a query).
	total=$(awk 'NR == FNR { q[$1] = $3; next } { t += $3 - ($1 in q ? q[$1] : 0) } END { print t + 0 }' \
		"$d/before" "$d/after")
	echo "store queries for the held long poll and two wakes: $total"
	(( total < 12 )) || pl_fail "$total store queries: the wake read the rows of the idle spell"
}
