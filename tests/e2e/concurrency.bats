#!/usr/bin/env bats
# SPEC 2 and 4: several publisher processes and a poller following the
# cursor: every id exactly once, in order, nothing lost.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

# publisher N COUNT OUT: COUNT messages to /c/pN, one request each; the ids
# of the 201 replies go to OUT, anything else to OUT.err.
publisher() {
	local n=$1 count=$2 out=$3 i code
	for i in $(seq 1 "$count"); do
		code=$(curl -sS -o "$out.body" -w '%{http_code}' -H "Authorization: Bearer $PL_PUB_TOKEN" \
			-H 'Content-Type: text/plain' --data-binary "p$n-$i" "$PL_URL/push/publish?topic=/c/p$n")
		if [ "$code" = 201 ]; then
			jq -r .id "$out.body" >>"$out"
		else
			echo "status $code: $(cat "$out.body")" >>"$out.err"
		fi
	done
}

@test "4 publishers x 60 messages + a cursor-following poller: every id once, ascending" {
	pl_poll "topic=/c&since=now"
	cursor=$(pl_json .cursor)
	pids=()
	for n in 1 2 3 4; do
		publisher "$n" 60 "$BATS_TEST_TMPDIR/ids.$n" 3>&- &
		pids+=($!)
	done
	# batches too, to mix transactions of several rows
	for i in 1 2 3 4 5; do
		printf '{"topic":"/c/batch","data":"b%d-1"}\n{"topic":"/c/batch","data":"b%d-2"}\n' "$i" "$i"
	done >"$BATS_TEST_TMPDIR/batch"
	(
		for i in 1 2 3; do
			curl -sS -H "Authorization: Bearer $PL_PUB_TOKEN" -H 'Content-Type: application/x-ndjson' \
				--data-binary "@$BATS_TEST_TMPDIR/batch" "$PL_URL/push/publish" | jq -r '.ids[]' >>"$BATS_TEST_TMPDIR/ids.b"
		done
	) 3>&- &
	pids+=($!)
	got=$BATS_TEST_TMPDIR/got
	: >"$got"
	running=1
	deadline=$(( $(date +%s) + 90 ))
	while :; do
		curl -sS -o "$BATS_TEST_TMPDIR/p" "$PL_URL/push/poll?topic=/c&since=$cursor&limit=7"
		jq -r '.messages[].id' "$BATS_TEST_TMPDIR/p" >>"$got"
		new=$(jq -r .cursor "$BATS_TEST_TMPDIR/p")
		[[ "$new" =~ ^[0-9]+$ ]] || pl_fail "bad answer: $(cat "$BATS_TEST_TMPDIR/p")"
		(( new >= cursor )) || pl_fail "cursor went back from $cursor to $new"
		cursor=$new
		if [ "$running" = 0 ] && [ "$(jq -r .more "$BATS_TEST_TMPDIR/p")" = false ]; then
			break
		fi
		if [ "$running" = 1 ]; then
			running=0
			for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=1; done
		fi
		(( $(date +%s) < deadline )) || pl_fail "deadline passed"
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	# one more poll after every publisher is done
	curl -sS -o "$BATS_TEST_TMPDIR/p" "$PL_URL/push/poll?topic=/c&since=$cursor&limit=1000"
	jq -r '.messages[].id' "$BATS_TEST_TMPDIR/p" >>"$got"
	cat "$BATS_TEST_TMPDIR"/ids.*.err 2>/dev/null >&2 && pl_fail "some publishes failed"
	sort -n "$BATS_TEST_TMPDIR"/ids.[0-9b] >"$BATS_TEST_TMPDIR/want"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/want")" = 270 ] || pl_fail "published $(wc -l <"$BATS_TEST_TMPDIR/want") of 270"
	sort -n -c "$got" 2>/dev/null || pl_fail "ids not ascending: $(tr '\n' ' ' <"$got")"
	dups=$(sort -n "$got" | uniq -d | tr '\n' ' ')
	[ -z "$dups" ] || pl_fail "delivered twice: $dups"
	diff "$BATS_TEST_TMPDIR/want" "$got" >&2 || pl_fail "delivered set differs from published set"
}

@test "long polls following the cursor under concurrent publishing get every id once" {
	pl_need longpoll
	pl_poll "topic=/lc&since=now"
	cursor=$(pl_json .cursor)
	publisher 1 40 "$BATS_TEST_TMPDIR/lids.1" 3>&- &
	p1=$!
	(
		for i in $(seq 1 40); do
			curl -sS -o /dev/null -H "Authorization: Bearer $PL_PUB_TOKEN" -H 'Content-Type: text/plain' \
				--data-binary "n$i" "$PL_URL/push/publish?topic=/lc2"
		done
	) 3>&- &
	p2=$!
	got=$BATS_TEST_TMPDIR/lgot
	: >"$got"
	deadline=$(( $(date +%s) + 60 ))
	while (( $(wc -l <"$got") < 40 )); do
		curl -sS -o "$BATS_TEST_TMPDIR/lp" --max-time 10 "$PL_URL/push/longpoll?topic=/c/p1,/lc&since=$cursor&timeout=3"
		jq -r '.messages[].id' "$BATS_TEST_TMPDIR/lp" >>"$got"
		cursor=$(jq -r .cursor "$BATS_TEST_TMPDIR/lp")
		[[ "$cursor" =~ ^[0-9]+$ ]] || pl_fail "bad answer: $(cat "$BATS_TEST_TMPDIR/lp")"
		(( $(date +%s) < deadline )) || pl_fail "deadline passed with $(wc -l <"$got") of 40"
	done
	wait $p1 || true
	wait $p2 || true
	sort -n -c "$got" || pl_fail "not ascending"
	[ -z "$(sort -n "$got" | uniq -d)" ] || pl_fail "duplicates"
	diff <(sort -n "$BATS_TEST_TMPDIR/lids.1") "$got" >&2 || pl_fail "set differs"
}
