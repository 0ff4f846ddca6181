#!/usr/bin/env bats
# SPEC 5 and 10: admin list, get, delete, stats; health.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

@test "health: 200 without any token, cheap" {
	pl_get /push/health
	pl_expect_status 200
	pl_get /push/health -H 'Authorization: Bearer nonsense'
	pl_expect_status 200
}

@test "health: a format or callback it cannot give is a plain JSON 400, as everywhere" {
	local q
	for q in 'format=bogus' 'format=jsonp' 'format=jsonp&callback=alert(1)' 'format=sse'; do
		pl_get "/push/health?$q"
		pl_expect_error 400 || pl_fail "health?$q"
		[[ $(pl_hdr Content-Type) == application/json* ]] || pl_fail "health?$q: $(pl_hdr Content-Type)"
	done
	pl_get '/push/health?format=jsonp&callback=cb'
	[ "$HTTP_STATUS" = 200 ] && [[ $BODY == *'cb({'*'"status":"ok"'* ]] || { pl_show; pl_fail "JSONP health"; }
	pl_get '/push/health?format=xml'
	pl_expect_status 200
	echo "$BODY" | xmllint --noout - || pl_fail "XML health: $BODY"
}

@test "admin endpoints without a token: 401; with a publish token: 403" {
	for p in /push/admin/messages /push/admin/messages/1 /push/admin/stats; do
		pl_get "$p"
		pl_expect_error 401 || pl_fail "$p without token"
		pl_get "$p" -H 'Authorization: Bearer not-a-token'
		pl_expect_error 401 || pl_fail "$p with a wrong token"
		pl_get "$p" -H "Authorization: Bearer $PL_PUB_TOKEN"
		pl_expect_error 403 || pl_fail "$p with the publish token"
		pl_get "$p" -H "Authorization: Bearer $PL_OPS_TOKEN"
		pl_expect_error 403 || pl_fail "$p with the ops token"
		pl_get "$p?token=$(pl_user_token root)"
		pl_expect_status 401 403 || pl_fail "$p with a subscriber token"
	done
}

@test "a publish token cannot delete: 403 and the message stays" {
	T=$(pl_topic)
	pl_pub "$T" keep
	pl_req DELETE "/push/admin/messages/$PUB_ID" -H "Authorization: Bearer $PL_PUB_TOKEN"
	pl_expect_error 403
	pl_admin GET "/push/admin/messages/$PUB_ID"
	pl_expect_status 200
}

@test "list: the poll envelope, ascending ids, with every user's messages and last_get" {
	T=$(pl_topic)
	pl_pub "$T" a; a=$PUB_ID
	pl_publish "topic=$T/x&user=ann&clients=ios&type=t" -H 'Content-Type: text/plain' --data-binary b
	b=$(pl_json .id)
	pl_pub "$T" c; c=$PUB_ID
	pl_admin GET "/push/admin/messages?topic=$T"
	pl_expect_status 200
	pl_expect_ctype application/json
	pl_expect_no_store
	pl_jq_true '(.cursor|type=="number") and (.more|type=="boolean") and (.messages|type=="array")'
	[ "$(pl_ids)" = "$a $b $c" ] || pl_fail "ids '$(pl_ids)'"
	pl_jq_true 'all(.messages[]; has("last_get"))'
	pl_jq_true --argjson b "$b" '.messages[] | select(.id == $b) | .user == "ann" and .clients == ["ios"] and .type == "t"'
}

@test "list filters: user=, type=, since=, limit= (with more and cursor)" {
	T=$(pl_topic)
	pl_publish "topic=$T&user=ann" -H 'Content-Type: text/plain' --data-binary 1
	pl_publish "topic=$T&user=bob&type=x" -H 'Content-Type: text/plain' --data-binary 2
	pl_publish "topic=$T&user=ann&type=x" -H 'Content-Type: text/plain' --data-binary 3
	pl_publish "topic=$T&clients=pc" -H 'Content-Type: text/plain' --data-binary 4
	pl_admin GET "/push/admin/messages?topic=$T&user=ann"
	pl_jq_true '[.messages[].data] == ["1","3"]'
	pl_admin GET "/push/admin/messages?topic=$T&type=x"
	pl_jq_true '[.messages[].data] == ["2","3"]'
	pl_admin GET "/push/admin/messages?topic=$T&user=ann&type=x"
	pl_jq_true '[.messages[].data] == ["3"]'
	pl_admin GET "/push/admin/messages?topic=$T&limit=2"
	pl_jq_true '[.messages[].data] == ["1","2"] and .more == true and .cursor == .messages[1].id'
	c=$(pl_json .cursor)
	pl_admin GET "/push/admin/messages?topic=$T&since=$c"
	pl_jq_true '[.messages[].data] == ["3","4"]'
	pl_admin GET "/push/admin/messages?topic=$T&limit=0"
	pl_expect_error 400
	pl_admin GET "/push/admin/messages?topic=$T/../x"
	pl_expect_error 400
}

@test "get one: the message with last_get; unknown id 404; bad id 400 or 404" {
	T=$(pl_topic)
	pl_publish "topic=$T&type=notice" -H 'Content-Type: application/json' --data-binary '{"k":1}'
	id=$(pl_json .id)
	pl_admin GET "/push/admin/messages/$id"
	pl_expect_status 200
	pl_expect_no_store
	pl_jq_true --argjson id "$id" --arg t "$T" '.id == $id and .topic == $t and .data == {"k":1} and .type == "notice" and has("last_get") and (.created|type=="number") and (.expires|type=="number")'
	pl_admin GET "/push/admin/messages/$((id + 100000))"
	pl_expect_error 404
	for bad in abc -1 1.5 '1;2' 99999999999999999999999; do
		pl_admin GET "/push/admin/messages/$(pl_urlenc "$bad")"
		pl_expect_error 400 404 || pl_fail "id '$bad'"
	done
}

@test "an unknown admin resource: 404 naming the resources under the path it came by" {
	pl_admin GET /push/admin/nope
	pl_expect_error 404
	pl_jq_true '.message | contains("/push/admin/messages, /push/admin/messages/ID or /push/admin/stats")' ||
		pl_fail "the message: $BODY"
}

@test "delete: 204, then gone (404 on GET and on a second DELETE), not delivered any more" {
	T=$(pl_topic)
	pl_pub "$T" doomed; id=$PUB_ID
	pl_pub "$T" kept; kept=$PUB_ID
	pl_admin DELETE "/push/admin/messages/$id"
	pl_expect_status 204
	[ -z "$BODY" ] || pl_fail "204 with a body"
	pl_admin GET "/push/admin/messages/$id"
	pl_expect_error 404
	pl_admin DELETE "/push/admin/messages/$id"
	pl_expect_error 404
	pl_poll "topic=$T&since=all"
	[ "$(pl_ids)" = "$kept" ]
}

@test "delete as JSONP: 200 with {deleted:1} inside (a script reads no status), then the 404 inside" {
	T=$(pl_topic)
	pl_pub "$T" doomed; id=$PUB_ID
	pl_admin DELETE "/push/admin/messages/$id?format=jsonp&callback=cb"
	pl_expect_status 200
	[ "$BODY" = '/**/cb({"deleted":1});' ] || { pl_show; pl_fail "JSONP delete: not the count inside"; }
	pl_admin DELETE "/push/admin/messages/$id?format=jsonp&callback=cb"
	pl_expect_status 200
	[[ $BODY == '/**/cb({'*'"error":"not_found"'* ]] || { pl_show; pl_fail "second JSONP delete: not the 404 inside"; }
	pl_admin DELETE "/push/admin/messages/$PUB_ID?format=xml"
	pl_expect_status 404
	[ "$(pl_count_topic "$T")" = 0 ] || pl_fail "not deleted"
}

@test "POST with _method=DELETE deletes, for clients that cannot send DELETE (query or form, any case)" {
	T=$(pl_topic)
	pl_pub "$T" by-query; a=$PUB_ID
	pl_pub "$T" by-form; b=$PUB_ID
	pl_pub "$T" kept; kept=$PUB_ID
	pl_admin POST "/push/admin/messages/$a?_method=DELETE" -d ""
	pl_expect_status 204
	pl_admin POST "/push/admin/messages/$b" -d '_method=delete'
	pl_expect_status 204
	pl_admin POST "/push/admin/messages/$b" -d '_method=DELETE'
	pl_expect_error 404
	pl_admin POST "/push/admin/messages/$kept" -d '_method=PATCH'
	pl_expect_error 405
	pl_poll "topic=$T&since=all"
	[ "$(pl_ids)" = "$kept" ]
}

@test "_method=DELETE in a body that is not a form (text/plain, JSON) is no delete: 405, nothing deleted" {
	local ct
	T=$(pl_topic)
	pl_pub "$T" kept; kept=$PUB_ID
	for ct in 'text/plain' 'application/json' 'text/plain; charset=utf-8'; do
		pl_admin POST "/push/admin/messages/$kept" -H "Content-Type: $ct" --data-binary 'x=1&_method=DELETE'
		pl_expect_error 405
		pl_admin POST "/push/admin/messages" -H "Content-Type: $ct" --data-binary "topic=$T&_method=DELETE"
		pl_expect_error 405
	done
	# A form with parameters in its type is still a form.
	pl_pub "$T" gone; gone=$PUB_ID
	pl_admin POST "/push/admin/messages/$gone" -H 'Content-Type: Application/X-WWW-Form-Urlencoded; charset=UTF-8' \
		--data-binary '_method=DELETE'
	pl_expect_status 204
	pl_poll "topic=$T&since=all"
	[ "$(pl_ids)" = "$kept" ] || pl_fail "left: $(pl_ids)"
}

@test "POST with _method=DELETE in the query and other fields in the form body deletes" {
	T=$(pl_topic)
	pl_pub "$T/a" one; a=$PUB_ID
	pl_pub "$T/b" two
	pl_pub "$T/c" kept; kept=$PUB_ID
	pl_admin POST "/push/admin/messages/$a?_method=DELETE" -d 'note=bye'
	pl_expect_status 204
	pl_admin POST "/push/admin/messages?_method=DELETE" -d "topic=$T/b"
	pl_expect_status 200
	[ "$(pl_json .deleted)" = 1 ] || pl_fail "deleted: $BODY"
	pl_poll "topic=$T&since=all"
	[ "$(pl_ids)" = "$kept" ] || { pl_show; pl_fail "left: $(pl_ids)"; }
}

@test "admin delete: a filter given twice with two values is a 400 that deletes nothing; a field in both form body and query is the body's" {
	T=$(pl_topic)
	pl_pub "$T/a" everyone
	pl_publish "topic=$T/a&user=bob" --data-binary b1 -H 'Content-Type: text/plain'
	pl_publish "topic=$T/a&user=alice" --data-binary a1 -H 'Content-Type: text/plain'
	pl_pub "$T/b" kept; kept=$PUB_ID
	pl_admin DELETE "/push/admin/messages?topic=$T&user=bob&user=alice"
	pl_expect_error 400
	[[ $(pl_json .message) == *user=*twice* ]] || { pl_show; pl_fail "the message does not name user="; }
	pl_admin DELETE "/push/admin/messages?topic=$T/a&limit=1&limit=5"
	pl_expect_error 400
	[ "$(pl_count_topic "$T")" = 4 ] || pl_fail "a refused delete deleted"
	# query topic=/b, body topic=/a: the body's
	pl_admin POST "/push/admin/messages?_method=DELETE&topic=$T/b" -d "topic=$T/a"
	pl_expect_status 200
	[ "$(pl_json .deleted)" = 3 ] || { pl_show; pl_fail "deleted: $BODY"; }
	pl_poll "topic=$T&since=all"
	[ "$(pl_ids)" = "$kept" ] || { pl_show; pl_fail "left: $(pl_ids)"; }
}

@test "a form's _method=DELETE brings its format: format= and callback= in the body choose the answer's format" {
	T=$(pl_topic)
	pl_pub "$T" doomed; id=$PUB_ID
	pl_admin POST "/push/admin/messages/$id" -d '_method=DELETE&format=jsonp&callback=cb'
	pl_expect_status 200
	[ "$BODY" = '/**/cb({"deleted":1});' ] || { pl_show; pl_fail "form JSONP delete: not the count inside"; }
	pl_admin POST "/push/admin/messages/$id" -d '_method=DELETE&format=xml'
	pl_expect_status 404
	[[ $BODY == *'<error code="not_found">'* ]] || { pl_show; pl_fail "form delete with format=xml: not an XML error"; }
	pl_admin POST /push/admin/messages -d "_method=DELETE&topic=$T&format=jsonp&callback=cb"
	pl_expect_status 200
	[ "$BODY" = '/**/cb({"deleted":0});' ] || { pl_show; pl_fail "form JSONP delete by filter: $BODY"; }
}

@test "admin wrong methods: 405" {
	pl_admin POST /push/admin/messages -d x
	pl_expect_error 405
	pl_admin PUT /push/admin/messages/1 -d x
	pl_expect_error 405
	pl_admin DELETE /push/admin/stats
	pl_expect_error 405
	pl_admin POST /push/admin/stats -d x
	pl_expect_error 405
}

@test "DELETE of the list without a filter: 400, and nothing deleted" {
	T=$(pl_topic)
	pl_pub "$T" kept; kept=$PUB_ID
	pl_admin DELETE /push/admin/messages
	pl_expect_error 400
	pl_admin POST /push/admin/messages -d '_method=DELETE'
	pl_expect_error 400
	pl_poll "topic=$T&since=all"
	[ "$(pl_ids)" = "$kept" ]
}

@test "POST with _method=DELETE takes the filter from the form body too" {
	T=$(pl_topic)
	pl_pub "$T/a" gone; pl_pub "$T/a" gone-too
	pl_pub "$T/b" kept; kept=$PUB_ID
	pl_admin POST /push/admin/messages -d "_method=DELETE&topic=$T/a"
	pl_expect_status 200
	[ "$(pl_json .deleted)" = 2 ] || pl_fail "deleted: $BODY"
	pl_poll "topic=$T&since=all"
	[ "$(pl_ids)" = "$kept" ]
}

@test "DELETE by filter deletes what the same filter lists: since= and limit= count" {
	T=$(pl_topic)
	pl_pub "$T" a; a=$PUB_ID
	pl_pub "$T" b; b=$PUB_ID
	pl_pub "$T" c; c=$PUB_ID
	pl_pub "$T" d; d=$PUB_ID
	pl_pub "$T" e; e=$PUB_ID
	pl_admin DELETE "/push/admin/messages?topic=$T&since=$c&limit=1"
	pl_expect_status 200
	[ "$(pl_json .deleted)" = 1 ] || pl_fail "since=c&limit=1 deleted: $BODY"
	pl_admin DELETE "/push/admin/messages?topic=$T&since=now"
	[ "$(pl_json .deleted)" = 0 ] || pl_fail "since=now deleted: $BODY"
	pl_admin DELETE "/push/admin/messages?topic=$T&since=999999999"
	[ "$(pl_json .deleted)" = 0 ] || pl_fail "a cursor past the head deleted: $BODY"
	pl_poll "topic=$T&since=all"
	[ "$(pl_ids)" = "$a $b $c $e" ] || { pl_show; pl_fail "left: $(pl_ids)"; }
	pl_admin DELETE "/push/admin/messages?topic=$T&since=$a"
	[ "$(pl_json .deleted)" = 3 ] || pl_fail "since=a deleted: $BODY"
	pl_poll "topic=$T&since=all"
	[ "$(pl_ids)" = "$a" ] || { pl_show; pl_fail "left: $(pl_ids)"; }
}

@test "undelivered= takes the config's booleans; alone it is on; anything else is 400" {
	T=$(pl_topic)
	pl_publish "topic=$T&user=u1" -H 'Content-Type: text/plain' --data-binary never-read
	pl_expect_status 201; u=$(pl_json .id)
	pl_pub "$T" broadcast; b=$PUB_ID
	for v in no off false 0 FALSE; do
		pl_admin GET "/push/admin/messages?topic=$T&undelivered=$v"
		[ "$(pl_ids)" = "$u $b" ] || { pl_show; pl_fail "undelivered=$v: $(pl_ids)"; }
	done
	for v in "undelivered" "undelivered=1" "undelivered=yes" "undelivered=on" "undelivered=TRUE"; do
		pl_admin GET "/push/admin/messages?topic=$T&$v"
		[ "$(pl_ids)" = "$u" ] || { pl_show; pl_fail "$v: $(pl_ids)"; }
	done
	pl_admin GET "/push/admin/messages?topic=$T&undelivered=maybe"
	pl_expect_error 400
}

@test "unknown admin path: 404" {
	for p in /push/admin/nothing-here /push/admin/health /push/admin/messages/health; do
		pl_admin GET "$p"
		pl_expect_error 404 || pl_fail "GET $p"
	done
}

@test "any other path under /push/: 404 with a JSON error (no token needed), XML when asked" {
	for p in /push/ /push/nope /push/subscribe/x /push/administrator "/push/a%20b?x=1" \
		 /push/foo/health /push/x/admin/stats \
		 /push/x/admin /push/admin.json/stats /push/health/x; do
		pl_get "$p"
		pl_expect_error 404 || pl_fail "GET $p"
		pl_jq_true '.error == "not_found" and (.message | test("/push/poll"))' || pl_fail "GET $p"
	done
	# A path longer than the programs read whole is no endpoint either,
	# even when its first 1,023 bytes end in /health.
	p="/push/$(printf 'a%.0s' $(seq 1010))/healthx"
	pl_get "$p"
	pl_expect_error 404 || pl_fail "GET a ${#p}-byte path"
	pl_req POST /push/nope -H 'Content-Type: text/plain' --data-binary hi
	pl_expect_error 404
	pl_get "/push/nope?format=xml"
	pl_expect_status 404
	printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx not_found ||
		{ pl_show; pl_fail "404 as XML: no <error code=\"not_found\">"; }
}

@test "stats: every named field, numbers that follow publishes and deletes" {
	pl_admin GET /push/admin/stats
	pl_expect_status 200
	pl_expect_ctype application/json
	pl_expect_no_store
	for k in rows oldest_id newest_id last_id db_bytes wal_bytes waiting publishes_last_minute; do
		pl_jq_true --arg k "$k" 'has($k)' || pl_fail "no $k"
	done
	pl_jq_true '(.rows|type=="number") and (.db_bytes|type=="number") and .db_bytes > 0
		and (.wal_bytes|type=="number") and (.waiting|type=="number") and (.publishes_last_minute|type=="number")'
	rows=$(pl_json .rows)
	plm=$(pl_json .publishes_last_minute)
	T=$(pl_topic)
	pl_pub "$T" one
	pl_pub "$T" two; id=$PUB_ID
	pl_admin GET /push/admin/stats
	pl_jq_true --argjson r "$rows" --argjson p "$plm" --argjson id "$id" \
		'.rows == $r + 2 and .publishes_last_minute >= $p + 2 and .newest_id == $id and .last_id == $id
		 and .oldest_id <= $id'
	plm=$(pl_json .publishes_last_minute)
	pl_admin DELETE "/push/admin/messages/$id"
	pl_admin DELETE "/push/admin/messages/$((id - 1))"
	pl_admin GET /push/admin/stats
	# a delete takes nothing from what was published
	pl_jq_true --argjson r "$rows" --argjson id "$id" --argjson p "$plm" \
		'.rows == $r and .newest_id < $id - 1 and .last_id == $id and .publishes_last_minute >= $p'
}

@test "stats and health: newest_id is the newest message stored (0 when none is), last_id the newest id ever given" {
	pl_pub /st/a one; a=$PUB_ID
	pl_pub /st/a two; b=$PUB_ID
	pl_admin DELETE "/push/admin/messages/$b"
	pl_expect_status 204
	pl_admin GET /push/admin/stats
	pl_jq_true --argjson a "$a" --argjson b "$b" '.newest_id == $a and .last_id == $b'
	pl_get /push/health
	pl_jq_true --argjson a "$a" --argjson b "$b" '.newest_id == $a and .last_id == $b'
	# An empty table: both ends 0, the head kept (ids are never reused).
	PUSHLITE_CONF=$PL_CONF run "$PL_TOOLS/pushlite-purge" --quiet --max-rows 0
	[ "$status" -eq 0 ] || pl_fail "purge: $output"
	pl_admin GET /push/admin/stats
	pl_jq_true --argjson b "$b" '.rows == 0 and .oldest_id == 0 and .newest_id == 0 and .last_id == $b'
	pl_admin GET "/push/admin/stats?format=xml"
	printf '%s' "$BODY" >"$BATS_TEST_TMPDIR/s.xml"
	[ "$(xmllint --xpath 'string(/stats/@last_id)' "$BATS_TEST_TMPDIR/s.xml")" = "$b" ] || pl_fail "xml: $BODY"
}

@test "admin errors in the asked format: XML, or JSONP (status 200, the error inside)" {
	pl_get "/push/admin/messages?format=xml"
	pl_expect_status 401
	printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx unauthorized ||
		{ pl_show; pl_fail "401 as XML: no <error code=\"unauthorized\">"; }
	pl_get "/push/admin/messages?format=jsonp&callback=cb"
	pl_expect_status 200
	[[ $BODY == '/**/cb({'*'"error":"unauthorized"'* ]] || { pl_show; pl_fail "401 as JSONP: not 200 with the error inside"; }
	pl_admin GET "/push/admin/messages/999999999?format=xml"
	pl_expect_status 404
	printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx not_found ||
		{ pl_show; pl_fail "404 as XML: no <error code=\"not_found\">"; }
	pl_admin GET "/push/admin/nothing?format=jsonp&callback=cb"
	pl_expect_status 200
	[[ $BODY == '/**/cb({'*'"error":"not_found"'* ]] || { pl_show; pl_fail "404 as JSONP: not 200 with the error inside"; }
	# without a format: JSON, as before
	pl_get "/push/admin/messages"
	pl_expect_error 401
}
