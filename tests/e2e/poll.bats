#!/usr/bin/env bats
# SPEC 4 and 10: poll. since forms, limit/more/cursor, caching, filters.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

# publish N messages m1..mN to $T; IDS holds their ids
pub_n() {
	local i
	IDS=()
	for i in $(seq 1 "$1"); do
		pl_pub "$T" "m$i"
		IDS+=("$PUB_ID")
	done
}

expect_ids() {
	[ "$(pl_ids)" = "$*" ] && return 0
	pl_show
	pl_fail "got ids '$(pl_ids)', want '$*'"
}

@test "answer: 200, JSON, {cursor, more, messages} oldest first, no-store" {
	T=$(pl_topic)
	pub_n 3
	pl_poll "topic=$T&since=all"
	pl_expect_status 200
	pl_expect_ctype application/json
	pl_expect_no_store
	pl_jq_true '(.cursor|type=="number") and .more == false and (.messages|type=="array")'
	expect_ids "${IDS[@]}"
	pl_jq_true '[.messages[].data] == ["m1","m2","m3"]'
}

@test "default since for poll is all" {
	T=$(pl_topic)
	pub_n 2
	pl_poll "topic=$T"
	expect_ids "${IDS[@]}"
}

@test "since=ID is exclusive; since=0 means from the start" {
	T=$(pl_topic)
	pub_n 4
	pl_poll "topic=$T&since=${IDS[1]}"
	expect_ids "${IDS[2]}" "${IDS[3]}"
	pl_poll "topic=$T&since=${IDS[3]}"
	expect_ids
	pl_poll "topic=$T&since=0"
	expect_ids "${IDS[@]}"
}

@test "since=now: nothing old; cursor is the newest id, and following it gets what comes next" {
	T=$(pl_topic)
	pub_n 2
	pl_poll "topic=$T&since=now"
	pl_expect_status 200
	expect_ids
	c=$(pl_json .cursor)
	(( c >= IDS[1] )) || pl_fail "cursor $c below newest id ${IDS[1]}"
	pl_pub "$T" later
	pl_poll "topic=$T&since=$c"
	expect_ids "$PUB_ID"
}

@test "since=DURATION: messages newer than that; units s m h d" {
	T=$(pl_topic)
	pl_pub "$T" old; old=$PUB_ID; oc=$PUB_CREATED
	# wait until the first message is more than 2 s old
	until (( $(pl_now_ms) - oc > 2300 )); do sleep 0.1; done
	pl_pub "$T" new; new=$PUB_ID
	pl_poll "topic=$T&since=2s"
	expect_ids "$new"
	for d in 10m 1h 1d 60s; do
		pl_poll "topic=$T&since=$d"
		expect_ids "$old" "$new"
	done
}

@test "bad since: 400" {
	T=$(pl_topic)
	for s in abc -1 10x 1.5 10S 1w '' ' 1' 'now ' 99999999999999999999999 0x10; do
		pl_poll "topic=$T&since=$(pl_urlenc "$s")"
		pl_expect_error 400 || pl_fail "since='$s'"
	done
}

@test "last_event_id= is the cursor too; Last-Event-ID header beats last_event_id= beats since=" {
	T=$(pl_topic)
	pub_n 4
	pl_poll "topic=$T&last_event_id=${IDS[2]}"
	expect_ids "${IDS[3]}"
	pl_poll "topic=$T&since=${IDS[0]}&last_event_id=${IDS[2]}"
	expect_ids "${IDS[3]}"
	pl_poll "topic=$T&since=${IDS[0]}&last_event_id=${IDS[1]}" -H "Last-Event-ID: ${IDS[2]}"
	expect_ids "${IDS[3]}"
	pl_poll "topic=$T&since=all" -H "Last-Event-ID: ${IDS[1]}"
	expect_ids "${IDS[2]}" "${IDS[3]}"
	# empty, like an empty header: no cursor, since= (or the default) counts
	pl_poll "topic=$T&since=${IDS[2]}&last_event_id="
	expect_ids "${IDS[3]}"
	pl_poll "topic=$T&last_event_id="
	expect_ids "${IDS[0]}" "${IDS[1]}" "${IDS[2]}" "${IDS[3]}"
}

@test "limit: at most that many; more=true and cursor = last returned id; following gets the rest once" {
	T=$(pl_topic)
	pub_n 5
	pl_poll "topic=$T&since=all&limit=2"
	expect_ids "${IDS[0]}" "${IDS[1]}"
	pl_jq_true --argjson c "${IDS[1]}" '.more == true and .cursor == $c'
	pl_poll "topic=$T&since=${IDS[1]}&limit=2"
	expect_ids "${IDS[2]}" "${IDS[3]}"
	pl_jq_true --argjson c "${IDS[3]}" '.more == true and .cursor == $c'
	pl_poll "topic=$T&since=${IDS[3]}&limit=2"
	expect_ids "${IDS[4]}"
	pl_jq_true --argjson c "${IDS[4]}" '.more == false and .cursor >= $c'
}

@test "limit=N with exactly N messages left: more is false" {
	T=$(pl_topic)
	pub_n 3
	pl_poll "topic=$T&since=all&limit=3"
	expect_ids "${IDS[@]}"
	pl_jq_true '.more == false'
}

@test "default limit is 100; limit=1000 is accepted" {
	T=$(pl_topic)
	for i in $(seq 1 101); do printf '{"topic":"%s","data":%d}\n' "$T" "$i"; done >"$BATS_TEST_TMPDIR/b"
	pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/b"
	pl_expect_status 201
	pl_poll "topic=$T&since=all"
	pl_jq_true '(.messages|length) == 100 and .more == true and .messages[0].data == 1 and .messages[99].data == 100'
	pl_poll "topic=$T&since=all&limit=1000"
	pl_jq_true '(.messages|length) == 101 and .more == false'
	pl_poll "topic=$T&since=all&limit=1"
	pl_jq_true '(.messages|length) == 1 and .more == true'
}

@test "limit outside 1-1000 or not a number: 400" {
	T=$(pl_topic)
	for l in 0 1001 -1 abc 1.5 '' 10x 99999999999999999999; do
		pl_poll "topic=$T&limit=$(pl_urlenc "$l")"
		pl_expect_error 400 || pl_fail "limit='$l'"
	done
}

@test "cursor when nothing matched is the newest id examined, never below since" {
	T=$(pl_topic)
	pl_pub "$T/other" x
	pl_pub "/elsewhere$BATS_TEST_NUMBER" y; newest=$PUB_ID
	pl_poll "topic=$T/none&since=all"
	expect_ids
	pl_jq_true '.more == false'
	c=$(pl_json .cursor)
	n=$(pl_stat last_id)
	[ "$c" = "$n" ] || pl_fail "cursor $c, newest id $n (published $newest)"
	pl_poll "topic=$T/none&since=$n"
	pl_jq_true --argjson n "$n" '.cursor == $n'
}

@test "cursor with more=false is not below the last id returned, and at most the newest id" {
	T=$(pl_topic)
	pl_pub "$T" a; a=$PUB_ID
	pl_pub "/elsewhere$BATS_TEST_NUMBER" b
	pl_poll "topic=$T&since=all"
	n=$(pl_stat last_id)
	pl_jq_true --argjson a "$a" --argjson n "$n" '.more == false and .cursor >= $a and .cursor <= $n'
}

@test "following the cursor delivers every matching message exactly once" {
	T=$(pl_topic)
	pl_poll "topic=$T&since=now"
	c=$(pl_json .cursor)
	got=()
	want=()
	for round in 1 2 3 4 5; do
		for i in 1 2 3; do
			pl_pub "$T/r$round" "r$round-$i"
			want+=("$PUB_ID")
			pl_pub "/noise$BATS_TEST_NUMBER" n
		done
		pl_poll "topic=$T&since=$c&limit=2"
		got+=($(pl_ids))
		c=$(pl_json .cursor)
	done
	for _ in $(seq 1 20); do
		pl_poll "topic=$T&since=$c&limit=2"
		got+=($(pl_ids))
		c=$(pl_json .cursor)
		[ "$(pl_json .more)" = true ] || break
	done
	[ "${got[*]}" = "${want[*]}" ] || pl_fail "got ${got[*]}, want ${want[*]}"
}

@test "ETag is the cursor; If-None-Match with it is 304 while nothing is new, 200 after a publish" {
	T=$(pl_topic)
	pub_n 1
	pl_poll "topic=$T&since=all"
	pl_expect_status 200
	etag=$(pl_hdr ETag) || { pl_show; pl_fail "no ETag"; }
	c=$(pl_json .cursor)
	bare=${etag#W/}
	bare=${bare//\"/}
	[ "$bare" = "$c" ] || pl_fail "ETag $etag is not the cursor $c"
	pl_poll "topic=$T&since=$c" -H "If-None-Match: $etag"
	pl_expect_status 304
	[ -z "$BODY" ] || pl_fail "304 with a body: $BODY"
	pl_expect_no_store
	pl_poll "topic=$T&since=$c" -H "If-None-Match: W/$etag"
	pl_expect_status 304
	# a publish elsewhere moves the cursor, but brings nothing new here
	pl_pub "$T-elsewhere" other
	pl_poll "topic=$T&since=$c" -H "If-None-Match: $etag"
	pl_expect_status 304
	[ "$(pl_hdr ETag)" = "$etag" ] || { pl_show; pl_fail "the 304's ETag is not the one the client holds"; }
	# the same URL again (its messages all at or before the tag held):
	# 304, though the cursor moved over the other topic's message
	pl_poll "topic=$T&since=all" -H "If-None-Match: $etag"
	pl_expect_status 304
	[ "$(pl_hdr ETag)" = "$etag" ] || { pl_show; pl_fail "the 304's ETag is not the one the client holds"; }
	pl_poll "topic=$T" -H "If-None-Match: $etag"
	pl_expect_status 304
	# a tag older than the answer's last message: that message is new to it
	pl_poll "topic=$T&since=all" -H "If-None-Match: \"$(( c - 1 ))\""
	pl_expect_status 200
	pl_pub "$T" newer
	pl_poll "topic=$T&since=$c" -H "If-None-Match: $etag"
	pl_expect_status 200
	expect_ids "$PUB_ID"
	pl_poll "topic=$T&since=all" -H 'If-None-Match: "12345678999"'
	pl_expect_status 200
	# tags compare as text: the cursor with a leading zero is another tag
	c=$(pl_json .cursor)
	pl_poll "topic=$T&since=$c" -H "If-None-Match: \"$c\""
	pl_expect_status 304
	pl_poll "topic=$T&since=$c" -H "If-None-Match: \"0$c\""
	pl_expect_status 200
	# JSONP is always a 200: a script tag reads no status
	pl_poll "topic=$T&since=$c&format=jsonp&callback=cb" -H "If-None-Match: \"$c\""
	pl_expect_status 200
	[[ "$BODY" == "/**/cb({"*'"messages":[]'* ]] || pl_fail "not the JSONP answer: $BODY"
}

@test "a compressed answer's ETag, sent back, is 304 while nothing is new (the web server renames it N-gzip)" {
	T=$(pl_topic)
	# enough text that the web server compresses the answer
	for i in 1 2 3 4 5 6; do pl_pub "$T" "$(printf 'compressible text %.0s' $(seq 1 20))"; done
	pl_poll "topic=$T&since=all" -H 'Accept-Encoding: gzip' --compressed
	pl_expect_status 200
	c=$(pl_json .cursor)
	etag=$(pl_hdr ETag) || { pl_show; pl_fail "no ETag"; }
	[[ $etag == "\"$c\"" || $etag == "\"$c-gzip\"" ]] || pl_fail "ETag $etag names neither $c nor $c-gzip"
	for tag in "\"$c-gzip\"" "W/\"$c-gzip\"" "\"$c-deflate\"" "\"1\", \"$c-gzip\""; do
		pl_poll "topic=$T&since=$c" -H 'Accept-Encoding: gzip' -H "If-None-Match: $tag"
		pl_expect_status 304 || pl_fail "If-None-Match: $tag"
		# the 304 names the answer the client holds, as it was sent
		# (Apache's mod_deflate takes its suffix off on the way)
		sent=${tag##*, }
		[[ $(pl_hdr ETag) == "${sent#W/}" || ( $PL_SERVER == apache* && $(pl_hdr ETag) == "\"$c\"" ) ]] ||
			{ pl_show; pl_fail "If-None-Match: $tag answered with ETag $(pl_hdr ETag)"; }
	done
	for tag in "\"$c-gzip1\"" "\"$c$c-gzip\"" "\"x$c-gzip\""; do
		pl_poll "topic=$T&since=$c" -H "If-None-Match: $tag"
		pl_expect_status 200 || pl_fail "If-None-Match: $tag"
	done
}

@test "type= returns only messages of that type" {
	T=$(pl_topic)
	pl_publish "topic=$T&type=notice" -H 'Content-Type: text/plain' --data-binary n1
	pl_publish "topic=$T&type=alert" -H 'Content-Type: text/plain' --data-binary a1
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary none
	pl_publish "topic=$T&type=notice" -H 'Content-Type: text/plain' --data-binary n2
	pl_poll "topic=$T&since=all&type=notice"
	pl_jq_true '[.messages[].data] == ["n1","n2"] and all(.messages[]; .type == "notice")'
	pl_poll "topic=$T&since=all"
	pl_jq_true '[.messages[].data] == ["n1","a1","none","n2"]'
}

@test "a filter that matches nothing for 10,000 rows: the answer stops there with more and a cursor; followed, it finds what lies beyond" {
	T=$(pl_topic)
	seq 12000 | sed 's/.*/{"data":&}/' | head -6000 >"$BATS_TEST_TMPDIR/b1"
	for i in 1 2; do
		pl_publish "topic=$T" -H 'Content-Type: application/x-ndjson' --data-binary @"$BATS_TEST_TMPDIR/b1"
		pl_expect_status 201
	done
	pl_publish "topic=$T&type=rare" -H 'Content-Type: text/plain' --data-binary found
	pl_expect_status 201
	rare=$(pl_json .id)
	pl_poll "topic=$T&since=0&type=rare"
	pl_expect_status 200
	pl_jq_true '.more == true and .messages == [] and .cursor > 0' || pl_fail "first answer: ${BODY:0:300}"
	c=$(pl_json .cursor)
	# not a 304 for the cursor the client holds: there is more to look at
	pl_poll "topic=$T&since=0&type=rare" -H 'If-None-Match: "0"'
	pl_expect_status 200
	# a long poll answers at once rather than hold a cursor it did not reach
	pl_get "/push/longpoll?topic=$T&since=0&type=rare&timeout=60" --max-time 20
	pl_expect_status 200
	pl_jq_true ".more == true and .messages == [] and .cursor == $c" || pl_fail "long poll: ${BODY:0:300}"
	pl_poll "topic=$T&since=$c&type=rare"
	pl_jq_true "[.messages[].id] == [$rare] and .more == false" || pl_fail "followed: ${BODY:0:300}"
	# a delete by the same filter reaches it too
	pl_admin DELETE "/push/admin/messages?topic=$T&type=rare"
	[ "$(pl_json .deleted)" = 1 ] || pl_fail "delete by type: $BODY"
}

@test "clients: a kind receives messages for it and those without clients; no client= receives only the latter" {
	T=$(pl_topic)
	pl_pub "$T" all
	pl_publish "topic=$T&clients=pc,ios" -H 'Content-Type: text/plain' --data-binary pc-ios
	pl_expect_status 201
	pl_publish "topic=$T" -H 'X-Clients: android' -H 'Content-Type: text/plain' --data-binary android
	pl_expect_status 201
	pl_poll "topic=$T&since=all&client=pc"
	pl_jq_true '[.messages[].data] | index("all") != null and index("pc-ios") != null and index("android") == null'
	pl_poll "topic=$T&since=all&client=ios"
	pl_jq_true '[.messages[].data] | index("pc-ios") != null and index("android") == null'
	pl_poll "topic=$T&since=all&client=android"
	pl_jq_true '[.messages[].data] | index("all") != null and index("android") != null and index("pc-ios") == null'
	pl_poll "topic=$T&since=all"
	pl_jq_true '[.messages[].data] | index("all") != null and index("android") == null and index("pc-ios") == null'
	pl_poll "topic=$T&since=all&client=ipad"
	pl_jq_true '[.messages[].data] | index("all") != null and index("android") == null and index("pc-ios") == null'
}

@test "client= that is not a kind ([a-z0-9_-]{1,16}): 400" {
	T=$(pl_topic)
	for c in PC 'p c' abcdefghijklmnopq '<x>'; do
		pl_poll "topic=$T&client=$(pl_urlenc "$c")"
		pl_expect_error 400 || pl_fail "client='$c'"
	done
}

@test "an expired message is never delivered" {
	T=$(pl_topic)
	pl_publish "topic=$T&ttl=1" -H 'Content-Type: text/plain' --data-binary short
	pl_expect_status 201
	exp=$(pl_json .expires)
	pl_pub "$T" long; long=$PUB_ID
	until (( $(pl_now_ms) > exp + 100 )); do sleep 0.1; done
	pl_poll "topic=$T&since=all"
	expect_ids "$long"
}

@test "unknown parameters are ignored; a malformed query never gives 5xx" {
	T=$(pl_topic)
	pub_n 1
	pl_poll "topic=$T&since=all&foo=bar&&=&x"
	pl_expect_status 200
	expect_ids "${IDS[0]}"
	for q in "topic=%zz" "topic=$T&since=%" "topic=$T&limit=%4" "%%%%" "topic=$T&topic" "topic=$T&since=1&since=2"; do
		pl_req GET "/push/poll?$q"
		case $HTTP_STATUS in
		200) pl_expect_json ;;
		400) pl_expect_error 400 ;;
		*) pl_show; pl_fail "query '$q': status $HTTP_STATUS" ;;
		esac
	done
	pl_poll "topic=%zz"
	pl_expect_error 400
}

@test "wrong method on poll: 405" {
	T=$(pl_topic)
	for m in POST PUT DELETE; do
		pl_req "$m" "/push/poll?topic=$T" -H 'Content-Type: text/plain' --data-binary x
		pl_expect_error 405 || pl_fail "method $m"
	done
}

@test "HEAD on poll does not crash (200 or 405)" {
	T=$(pl_topic)
	pl_req HEAD "/push/poll?topic=$T"
	pl_expect_status 200 405
}

@test "bad format: 400" {
	T=$(pl_topic)
	pl_poll "topic=$T&format=yaml"
	pl_expect_error 400
}
