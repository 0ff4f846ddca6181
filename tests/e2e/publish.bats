#!/usr/bin/env bats
# SPEC 3 and 10: publishing. Every input form, the reply, TTLs, limits.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

@test "text/plain body: 201 with id, topic, created, expires; stored as a JSON string" {
	T=$(pl_topic)
	before=$(pl_now_ms)
	pl_pub "$T" 'disk full'
	after=$(pl_now_ms)
	pl_expect_ctype application/json
	pl_jq_true --arg t "$T" '(.id|type=="number") and .topic==$t and (.created|type=="number") and (.expires|type=="number")'
	(( PUB_CREATED >= before - 2000 && PUB_CREATED <= after + 2000 )) || pl_fail "created $PUB_CREATED not near now ($before..$after)"
	# default_ttl 3d
	(( PUB_EXPIRES - PUB_CREATED == 3 * 86400 * 1000 )) || pl_fail "expires - created = $((PUB_EXPIRES - PUB_CREATED)), want 3d"
	pl_poll "topic=$T&since=all"
	pl_expect_status 200
	pl_jq_true --argjson id "$PUB_ID" --arg t "$T" --argjson c "$PUB_CREATED" --argjson e "$PUB_EXPIRES" \
		'.messages|length==1 and .[0].id==$id and .[0].topic==$t and .[0].data=="disk full" and .[0].created==$c and .[0].expires==$e'
}

@test "201 means committed: a poll right after the reply sees the message" {
	T=$(pl_topic)
	for i in 1 2 3 4 5; do
		pl_pub "$T" "m$i"
		pl_poll "topic=$T&since=$((PUB_ID - 1))"
		pl_jq_true --argjson id "$PUB_ID" '[.messages[].id] | index($id) != null'
	done
}

@test "ids are integers, strictly increasing in publish order" {
	T=$(pl_topic)
	prev=0
	for i in 1 2 3 4; do
		pl_pub "$T" "m$i"
		(( PUB_ID > prev )) || pl_fail "id $PUB_ID after $prev"
		prev=$PUB_ID
	done
}

@test "no Content-Type: the body is stored as a JSON string" {
	T=$(pl_topic)
	pl_publish "topic=$T" -H 'Content-Type:' --data-binary 'plain words'
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.data == "plain words"'
}

@test "text/* with parameters is stored as a JSON string, even when it looks like JSON" {
	T=$(pl_topic)
	pl_publish "topic=$T" -H 'Content-Type: text/markdown; charset=utf-8' --data-binary '# title'
	pl_expect_status 201
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary '{"a":1}'
	pl_expect_status 201
	pl_poll "topic=$T&since=all"
	pl_jq_true '.messages[0].data == "# title" and .messages[1].data == "{\"a\":1}"'
}

@test "UTF-8 text survives the round trip" {
	T=$(pl_topic)
	pl_pub "$T" 'héllo ✓ 😀 "quoted" \ back'
	pl_poll "topic=$T&since=all"
	pl_jq_true '.messages[0].data == "héllo ✓ 😀 \"quoted\" \\ back"'
}

@test "application/json: stored as JSON (object, array, number, string, true, false, null)" {
	T=$(pl_topic)
	pl_publish "topic=$T" -H 'Content-Type: application/json' --data-binary '{"level":"warn","n":[1,true,null]}'
	pl_expect_status 201
	pl_publish "topic=$T" -H 'Content-Type: application/json; charset=utf-8' --data-binary '[1,2]'
	pl_expect_status 201
	pl_publish "topic=$T" -H 'Content-Type: application/json' --data-binary '42'
	pl_expect_status 201
	pl_publish "topic=$T" -H 'Content-Type: application/json' --data-binary '"str"'
	pl_expect_status 201
	for v in true false null ' null '; do
		pl_publish "topic=$T" -H 'Content-Type: application/json' --data-binary "$v"
		pl_expect_status 201
	done
	printf '{"data":null}\n{"data":false}\n' |
		pl_publish "topic=$T" -H 'Content-Type: application/x-ndjson' --data-binary @-
	pl_expect_status 201
	pl_poll "topic=$T&since=all"
	pl_jq_true '[.messages[].data] == [{"level":"warn","n":[1,true,null]}, [1,2], 42, "str", true, false, null, null, null, false]'
	pl_jq_true '[.messages[] | has("data")] | all'
}

@test "application/json that is not valid JSON: 400 and nothing stored" {
	T=$(pl_topic)
	for body in '{"a":' '{a:1}' "{'a':1}" '[1,2,]' '{"a":1,}' 'hello' '' '{"a":1} x' "{\"a\":\"\x01\"}" 'NaN' '01'; do
		pl_publish "topic=$T" -H 'Content-Type: application/json' --data-binary "$body"
		pl_expect_error 400 || pl_fail "body: $body"
	done
	pl_expect_nothing_stored "$T"
}

@test "curl -d 'disk full' (form content type, no data field) stores the text itself" {
	T=$(pl_topic)
	pl_publish "topic=$T" -d 'disk full'
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.data == "disk full"'
}

@test "form bodies: ';' is text, not a separator; 'data' alone is text; an empty data= is 400" {
	T=$(pl_topic)
	pl_publish "topic=$T" -d 'data=Meeting at 3; room 5&type=note'
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.data == "Meeting at 3; room 5" and .type == "note"'
	pl_publish "topic=$T" -d 'Meeting at 3; type=x'
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.data == "Meeting at 3; type=x"'
	pl_publish "topic=$T" -d 'data'
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.data == "data"'
	n=$(pl_count_topic "$T")
	pl_publish "topic=$T" -d 'data=&type=x'
	pl_expect_error 400
	[ "$(pl_count_topic "$T")" = "$n" ] || pl_fail "an empty data= stored something"
}

@test "form body with a data field: every field applies" {
	T=$(pl_topic)
	pl_publish "" --data-urlencode "topic=$T" --data-urlencode 'data=hello & good+bye' \
		-d type=notice -d src=OA -d target=HR -d ttl=60 -d clients=pc,ios -d user=bob
	pl_expect_status 201
	pl_jq_true --arg t "$T" '.topic == $t and .expires - .created == 60000'
	pl_stored "$T"
	pl_msg_true --arg t "$T" '.topic == $t and .data == "hello & good+bye" and .type == "notice"
		and .src == "OA" and .target == "HR" and .clients == ["pc","ios"] and .user == "bob"
		and .expires - .created == 60000'
}

@test "query parameters carry the fields" {
	T=$(pl_topic)
	pl_publish "topic=$T&type=alert&src=OA&target=HR&ttl=90&clients=android&user=carol" \
		-H 'Content-Type: text/plain' --data-binary 'q'
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.data == "q" and .type == "alert" and .src == "OA" and .target == "HR"
		and .clients == ["android"] and .user == "carol" and .expires - .created == 90000'
}

@test "data= in the query of a POST with an empty body is the message; a body beats it" {
	T=$(pl_topic)
	pl_publish "topic=$T&data=from%20query" --data-binary ''
	pl_expect_status 201
	pl_publish "topic=$T&data=from%20query" -H 'Content-Type: text/plain' --data-binary 'from body'
	pl_expect_status 201
	pl_poll "topic=$T&since=all"
	pl_jq_true '[.messages[].data] == ["from query", "from body"]'
	pl_publish "topic=$T" --data-binary ''
	pl_expect_error 400
}

@test "X- headers carry the fields" {
	T=$(pl_topic)
	pl_publish "" -H "X-Topic: $T" -H 'X-Type: notice' -H 'X-User: dave' -H 'X-Clients: pc,ios' \
		-H 'X-TTL: 30m' -H 'X-Src: CRM' -H 'X-Target: OA' -H 'Content-Type: text/plain' --data-binary 'h'
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true --arg t "$T" '.topic == $t and .data == "h" and .type == "notice" and .user == "dave"
		and .clients == ["pc","ios"] and .src == "CRM" and .target == "OA"
		and .expires - .created == 1800000'
}

@test "precedence: body field beats header beats query" {
	T=$(pl_topic)
	pl_publish "topic=$T&type=from-query&src=q" -H 'X-Type: from-header' -H 'X-Src: h' \
		-d data=x -d type=from-body
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.type == "from-body" and .src == "h"'
	pl_publish "topic=$T&type=from-query&target=q" -H 'X-Type: from-header' \
		-H 'Content-Type: text/plain' --data-binary y
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.type == "from-header" and .target == "q"'
	# topic: header beats query
	pl_publish "topic=/elsewhere-$BATS_TEST_NUMBER" -H "X-Topic: $T" -H 'Content-Type: text/plain' --data-binary z
	pl_expect_status 201
	pl_jq_true --arg t "$T" '.topic == $t'
}

@test "a field given twice with different values in the query or the form: 400, nothing stored" {
	T=$(pl_topic)
	pl_publish "topic=$T/a&topic=$T/b" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 400
	[[ "$(pl_json .message)" == *topic=* ]] || pl_fail "message names the field: $BODY"
	pl_publish "topic=$T&clients=pc&clients=ios" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 400
	[[ "$(pl_json .message)" == *clients=pc,ios* ]] || pl_fail "message shows the list form: $BODY"
	pl_publish "topic=$T" -d data=x -d user=alice -d user=bob
	pl_expect_error 400
	printf '{"data":1}\n' >"$BATS_TEST_TMPDIR/b"
	pl_publish "topic=$T&ttl=1h&ttl=2h" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/b"
	pl_expect_error 400
	pl_expect_nothing_stored "$T"
	# The same value twice is no ambiguity; precedence between places stays.
	pl_publish "topic=$T&topic=$T&type=q" -H 'X-Type: h' -H 'Content-Type: text/plain' --data-binary y
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.type == "h"'
}

@test "NDJSON batch: one transaction, ids in order, every field, JSON data stays JSON" {
	T=$(pl_topic)
	printf '%s\n' \
		"{\"topic\":\"$T/a\",\"data\":{\"k\":[1,2]},\"type\":\"t1\",\"clients\":[\"pc\",\"ios\"],\"ttl\":60}" \
		"{\"topic\":\"$T/b\",\"data\":\"text\",\"user\":\"bob\",\"src\":\"OA\",\"target\":\"HR\",\"clients\":\"android,pc\"}" \
		"{\"topic\":\"$T/c\",\"data\":7,\"ttl\":\"2h\"}" >"$BATS_TEST_TMPDIR/batch"
	pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/batch"
	pl_expect_status 201
	pl_jq_true '(.ids | length == 3) and .ids[0] < .ids[1] and .ids[1] < .ids[2]'
	ids=$(pl_json '.ids|map(tostring)|join(" ")')
	pl_stored "$T"
	pl_jq_true --arg ids "$ids" '[.messages[].id|tostring]|join(" ") == $ids'
	pl_jq_true --arg t "$T" '.messages[0] | .topic == ($t+"/a") and .data == {"k":[1,2]} and .type == "t1"
		and .clients == ["pc","ios"] and .expires - .created == 60000'
	pl_jq_true --arg t "$T" '.messages[1] | .topic == ($t+"/b") and .data == "text" and .user == "bob"
		and .src == "OA" and .target == "HR" and .clients == ["android","pc"]'
	pl_jq_true '.messages[2] | .data == 7 and .expires - .created == 7200000'
}

@test "NDJSON batch is all or nothing: one bad line stores none" {
	T=$(pl_topic)
	before=$(pl_stat last_id)
	for bad in "{\"topic\":\"$T/x/../y\",\"data\":\"b\"}" '{"topic":' "{\"topic\":\"$T/b\",\"data\":\"b\",\"ttl\":\"soon\"}" \
		"{\"topic\":\"$T/b\",\"data\":\"b\",\"clients\":[\"PC!\"]}" '[1,2]' "{\"data\":\"no topic\"}"; do
		printf '%s\n' "{\"topic\":\"$T/a\",\"data\":\"first\"}" "$bad" "{\"topic\":\"$T/c\",\"data\":\"third\"}" \
			>"$BATS_TEST_TMPDIR/batch"
		pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/batch"
		pl_expect_error 400 || pl_fail "bad line: $bad"
	done
	pl_expect_nothing_stored "$T"
	after=$(pl_stat last_id)
	[ "$before" = "$after" ] || pl_fail "newest_id moved from $before to $after"
}

@test "TTL: seconds or duration; default 3d; capped at max_ttl (30d)" {
	T=$(pl_topic)
	for pair in 90:90000 45s:45000 30m:1800000 12h:43200000 3d:259200000 60d:2592000000 999999999:2592000000 4294967296:2592000000 100000d:2592000000 1000000h:2592000000 99999999999999999999999:2592000000; do
		pl_publish "topic=$T&ttl=${pair%%:*}" -H 'Content-Type: text/plain' --data-binary x
		pl_expect_status 201
		d=$(pl_json '.expires - .created')
		[ "$d" = "${pair#*:}" ] || pl_fail "ttl=${pair%%:*}: expires - created = $d, want ${pair#*:}"
	done
}

@test "bad TTL: 400 and nothing stored" {
	T=$(pl_topic)
	for ttl in abc -5 10x 1.5 5w '1 h' '' 1h30m; do
		pl_publish "topic=$T&ttl=$(pl_urlenc "$ttl")" -H 'Content-Type: text/plain' --data-binary x
		pl_expect_error 400 || pl_fail "ttl='$ttl'"
	done
	pl_expect_nothing_stored "$T"
}

@test "clients: comma list of [a-z0-9_-]{1,16}; anything else is 400" {
	T=$(pl_topic)
	pl_publish "topic=$T&clients=pc,ios_x,an-d1,abcdefghijklmnop" -H 'Content-Type: text/plain' --data-binary ok
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.clients == ["pc","ios_x","an-d1","abcdefghijklmnop"]'
	for c in PC 'p c' abcdefghijklmnopq 'pc;ios' 'pc,' ',' 'é'; do
		pl_publish "topic=$T/bad&clients=$(pl_urlenc "$c")" -H 'Content-Type: text/plain' --data-binary no
		pl_expect_error 400 || pl_fail "clients='$c'"
	done
	pl_expect_nothing_stored "$T/bad"
}

@test "topic missing or /: 400, nothing stored" {
	before=$(pl_stat last_id)
	pl_publish "" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 400
	pl_publish "topic=/" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 400
	pl_publish "topic=" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 400
	[ "$(pl_stat last_id)" = "$before" ]
}

@test "invalid UTF-8 (text, JSON, form): 400 and nothing stored" {
	T=$(pl_topic)
	printf 'bad \xff\xfe bytes' >"$BATS_TEST_TMPDIR/b1"
	printf '{"a":"\xc3\x28"}' >"$BATS_TEST_TMPDIR/b2"
	printf 'data=%%ff%%fe&type=x' >"$BATS_TEST_TMPDIR/b3"
	printf 'over\xc0\xafcoded' >"$BATS_TEST_TMPDIR/b4"
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary "@$BATS_TEST_TMPDIR/b1"
	pl_expect_error 400
	pl_publish "topic=$T" -H 'Content-Type: application/json' --data-binary "@$BATS_TEST_TMPDIR/b2"
	pl_expect_error 400
	pl_publish "topic=$T" -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "@$BATS_TEST_TMPDIR/b3"
	pl_expect_error 400
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary "@$BATS_TEST_TMPDIR/b4"
	pl_expect_error 400
	# invalid UTF-8 in the URL: lighttpd refuses some such bytes itself, so
	# the program is asked directly
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	pl_cgi_req publish POST "topic=$T&type=%ff" ok
	pl_expect_error 400
	pl_cgi_req publish POST "topic=$T&src=%c3%28" ok
	pl_expect_error 400
	pl_expect_nothing_stored "$T"
}

@test "a NUL in text, a form or a query: 400 that says so, nothing stored; JSON data may hold \\u0000" {
	T=$(pl_topic)
	printf 'nul\0byte' >"$BATS_TEST_TMPDIR/nul"
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary "@$BATS_TEST_TMPDIR/nul"
	pl_expect_error 400
	[[ $(pl_json .message) == *NUL* ]] || { pl_show; pl_fail "text: the message does not name the NUL"; }
	pl_publish "topic=$T" --data-binary 'data=nul%00byte'
	pl_expect_error 400
	[[ $(pl_json .message) == *NUL* ]] || { pl_show; pl_fail "form: the message does not name the NUL"; }
	# lighttpd refuses %00 in a URL itself: the program is asked directly
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	pl_cgi_req publish POST "topic=$T&type=a%00b" ok
	pl_expect_error 400
	[[ $(pl_json .message) == *NUL* ]] || { pl_show; pl_fail "query: the message does not name the NUL"; }
	pl_expect_nothing_stored "$T"
	pl_publish "topic=$T" -H 'Content-Type: application/json' --data-binary '"nul\u0000byte"'
	pl_expect_status 201
	pl_poll "topic=$T&since=all"
	pl_jq_true '.messages[0].data == "nul\u0000byte"'
}

@test "body of exactly max_body (1 MiB) is accepted, one byte more is 413" {
	T=$(pl_topic)
	head -c 1048576 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/ok"
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary "@$BATS_TEST_TMPDIR/ok"
	pl_expect_status 201
	printf b >>"$BATS_TEST_TMPDIR/ok"
	pl_publish "topic=$T/big" -H 'Content-Type: text/plain' --data-binary "@$BATS_TEST_TMPDIR/ok"
	pl_expect_error 413
	pl_expect_nothing_stored "$T/big"
}

@test "16 MiB body: 413 with a JSON error, nothing stored" {
	T=$(pl_topic)
	head -c 16777216 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/huge"
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary "@$BATS_TEST_TMPDIR/huge"
	pl_expect_error 413
	pl_publish "topic=$T" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/huge"
	pl_expect_error 413
	pl_expect_nothing_stored "$T"
}

@test "unsupported content types: 415, nothing stored" {
	T=$(pl_topic)
	for ct in application/xml application/octet-stream image/png 'multipart/form-data; boundary=x' application/javascript; do
		pl_publish "topic=$T" -H "Content-Type: $ct" --data-binary '<x/>'
		pl_expect_error 415 || pl_fail "Content-Type: $ct"
	done
	pl_expect_nothing_stored "$T"
}

@test "a malformed Content-Type is none of the accepted types: 415, nothing stored" {
	T=$(pl_topic)
	# no subtype, an empty one, a third part, junk before the parameters:
	# none of these is text/* or another accepted type
	for ct in 'text/' 'text//plain' 'text/plain/x' 'text/(plain)' 'application/json x' 'application/json/x' '/plain'; do
		pl_publish "topic=$T" -H "Content-Type: $ct" --data-binary '"x"'
		pl_expect_error 415 || pl_fail "Content-Type: $ct"
	done
	pl_expect_nothing_stored "$T"
	# well-formed ones, with parameters and blanks where HTTP allows them
	for ct in 'Text/Plain;charset=utf-8' 'application/json ; charset=utf-8' 'application/json;' 'text/x-log'; do
		pl_publish "topic=$T" -H "Content-Type: $ct" --data-binary '"x"'
		pl_expect_status 201 || pl_fail "Content-Type: $ct"
	done
}

@test "a compressed body (Content-Encoding other than identity): 415 that says so, nothing stored" {
	T=$(pl_topic)
	printf 'gzipped text' | gzip >"$BATS_TEST_TMPDIR/g"
	pl_publish "topic=$T" -H 'Content-Type: text/plain' -H 'Content-Encoding: gzip' --data-binary @"$BATS_TEST_TMPDIR/g"
	pl_expect_error 415
	pl_jq_true '.message | test("Content-Encoding")'
	for ce in br deflate 'gzip, identity'; do
		pl_publish "topic=$T" -H 'Content-Type: text/plain' -H "Content-Encoding: $ce" --data-binary plain
		pl_expect_error 415 || pl_fail "Content-Encoding: $ce"
	done
	pl_expect_nothing_stored "$T"
	# identity is no coding at all
	pl_publish "topic=$T" -H 'Content-Type: text/plain' -H 'Content-Encoding: identity' --data-binary plain
	pl_expect_status 201
}

@test "wrong methods: 405 (GET too, publish_get is off)" {
	T=$(pl_topic)
	for m in GET PUT DELETE PATCH; do
		pl_req "$m" "/push/publish?topic=$T&data=x&token=$PL_PUB_TOKEN" -H "Authorization: Bearer $PL_PUB_TOKEN"
		pl_expect_error 405 || pl_fail "method $m"
		[ "$m" = GET ] && continue
		pl_req "$m" "/push/publish?topic=$T" -H "Authorization: Bearer $PL_PUB_TOKEN" \
			-H 'Content-Type: text/plain' --data-binary body
		pl_expect_error 405 || pl_fail "method $m"
	done
	pl_expect_nothing_stored "$T"
}

@test "publish answers carry Cache-Control: no-store" {
	T=$(pl_topic)
	pl_pub "$T" x
	pl_expect_no_store
	pl_publish "topic=/" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_no_store
}
