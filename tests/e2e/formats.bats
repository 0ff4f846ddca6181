#!/usr/bin/env bats
# SPEC 4, 7, 10: XML and JSONP answers, errors in those formats, callbacks.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

# xml_ok: the last body is well-formed XML (call it at the test's top level,
# not inside $(...), where a failure would not count); xq XPATH then
# queries that body.
xml_ok() {
	printf '%s' "$BODY" >"$BATS_TEST_TMPDIR/b.xml"
	xmllint --noout "$BATS_TEST_TMPDIR/b.xml" || pl_fail "not well-formed: $BODY"
}
xq() {
	xmllint --xpath "$1" "$BATS_TEST_TMPDIR/b.xml" 2>/dev/null
}

@test "format=xml: well-formed, <messages cursor more> with attributes, clients and data" {
	T=$(pl_topic)
	pl_publish "topic=$T&type=notice&src=OA&target=HR&clients=pc,ios" \
		-H 'Content-Type: application/json' --data-binary '{"t":"<b>&amp;</b>"}'
	pl_expect_status 201
	id=$(pl_json .id)
	pl_pub "$T" 'plain <text> & "quotes"'
	pl_poll "topic=$T&since=all&format=xml&client=pc"
	pl_expect_status 200
	pl_expect_ctype application/xml 2>/dev/null || pl_expect_ctype text/xml
	pl_expect_no_store
	xml_ok
	x() { xq "$1"; }
	[ "$(x 'string(/messages/@more)')" = false ] || pl_fail "more: $BODY"
	[ -n "$(x 'string(/messages/@cursor)')" ] || pl_fail "cursor: $BODY"
	[ "$(x 'count(/messages/message)')" = 2 ] || pl_fail "count: $BODY"
	[ "$(x 'string(/messages/message[1]/@id)')" = "$id" ] || pl_fail "id: $BODY"
	[ "$(x 'string(/messages/message[1]/@topic)')" = "$T" ]
	[ "$(x 'string(/messages/message[1]/@type)')" = notice ]
	[ "$(x 'string(/messages/message[1]/@src)')" = OA ]
	[ "$(x 'string(/messages/message[1]/@target)')" = HR ]
	[ -n "$(x 'string(/messages/message[1]/@created)')" ]
	[ -n "$(x 'string(/messages/message[1]/@expires)')" ]
	[ "$(x 'string(/messages/message[1]/clients/client[1])')" = pc ]
	[ "$(x 'string(/messages/message[1]/clients/client[2])')" = ios ]
	# data holds the JSON text
	d=$(x 'string(/messages/message[1]/data)')
	[ "$(printf '%s' "$d" | jq -c .)" = '{"t":"<b>&amp;</b>"}' ] || pl_fail "data: $d"
	d=$(x 'string(/messages/message[2]/data)')
	[ "$(printf '%s' "$d" | jq -r .)" = 'plain <text> & "quotes"' ] || pl_fail "data 2: $d"
	# absent fields are omitted
	[ "$(x 'count(/messages/message[2]/@user)')" = 0 ] || pl_fail "empty user attribute: $BODY"
	[ "$(x 'count(/messages/message[2]/clients)')" = 0 ] || pl_fail "empty clients: $BODY"
}

@test "format=xml errors: <error code=\"\">message</error> with the right status" {
	pl_poll "topic=bad&format=xml"
	pl_expect_status 400
	xml_ok
	[ -n "$(xq 'string(/error/@code)')" ] || pl_fail "no code: $BODY"
	[ -n "$(xq 'string(/error)')" ] || pl_fail "no message: $BODY"
	# an error that quotes a control character the client sent stays
	# well-formed (in a body: the web servers refuse one in the URL)
	pl_publish "format=xml" -H 'Content-Type: application/x-www-form-urlencoded' --data-binary 'topic=/a%01b&data=x'
	pl_expect_status 400
	xml_ok || pl_fail "a form topic with a control character: not well-formed"
	pl_publish "format=xml" -H 'Content-Type: application/x-ndjson' --data-binary $'{"topic":"/a","data":1,"\\u0008x":2}\n'
	pl_expect_status 400
	xml_ok || pl_fail "a batch field name with a control character: not well-formed"
}

@test "format=jsonp: callback(JSON) as JavaScript, same envelope as JSON" {
	T=$(pl_topic)
	pl_pub "$T" hello
	pl_poll "topic=$T&since=all&format=jsonp&callback=cb_1"
	pl_expect_status 200
	pl_expect_ctype application/javascript 2>/dev/null || pl_expect_ctype text/javascript
	re='^[[:space:]]*(/\*\*/)?[[:space:]]*cb_1\((.*)\)[[:space:];]*$'
	[[ "$BODY" =~ $re ]] || pl_fail "not cb_1(...): $BODY"
	inner=${BASH_REMATCH[2]}
	printf '%s' "$inner" | jq_true '.messages[0].data == "hello" and (.cursor|type=="number")' >/dev/null || pl_fail "inner: $inner"
}

@test "format=jsonp errors: always status 200 with error inside" {
	pl_poll "topic=bad&format=jsonp&callback=cb"
	pl_expect_status 200
	[[ "$BODY" =~ cb\((.*)\) ]] || pl_fail "not cb(...): $BODY"
	printf '%s' "${BASH_REMATCH[1]}" | jq_true '(.error|length > 0) and (.message|length > 0)' >/dev/null || pl_fail "$BODY"
}

@test "JSONP callbacks are validated: script injection is refused" {
	T=$(pl_topic)
	for cb in 'alert(1);x' '<script>' 'a b' 'x</script>' '' 'a;b' 'a=b' 'a"b' "a'b"; do
		pl_poll "topic=$T&format=jsonp&callback=$(pl_urlenc "$cb")"
		[[ "$BODY" != *"$cb("* ]] || [ -z "$cb" ] || pl_fail "callback '$cb' echoed: $BODY"
		case $HTTP_STATUS in
		400) pl_expect_error 400 ;;
		200) [[ "$BODY" == *error* ]] || pl_fail "callback '$cb' accepted: $BODY" ;;
		*) pl_show; pl_fail "callback '$cb': status $HTTP_STATUS" ;;
		esac
	done
}

@test "format=xml and jsonp never show another user's message" {
	T=$(pl_topic)
	pl_publish "topic=$T&user=alice" -H 'Content-Type: text/plain' --data-binary alice-only
	pl_expect_status 201
	for f in xml "jsonp&callback=cb" json; do
		pl_poll "topic=$T&since=all&format=$f"
		[[ "$BODY" != *alice-only* ]] || pl_fail "format $f leaked: $BODY"
		pl_poll "topic=$T&since=all&format=$f&token=$(pl_user_token bob)"
		[[ "$BODY" != *alice-only* ]] || pl_fail "format $f leaked to bob: $BODY"
	done
}

@test "format=xml and jsonp on publish, admin and health answers, not only on poll" {
	T=$(pl_topic)
	pl_publish "topic=$T&format=xml" -H 'Content-Type: text/plain' --data-binary 'a <b> & c'
	pl_expect_status 201
	pl_expect_ctype application/xml
	xml_ok
	id=$(xq 'string(/published/@id)')
	[[ "$id" =~ ^[0-9]+$ ]] || pl_fail "publish reply: $BODY"
	[ "$(xq 'string(/published/@topic)')" = "$T" ] || pl_fail "topic: $BODY"
	[[ "$(xq 'string(/published/@expires)')" =~ ^[0-9]+$ ]] || pl_fail "expires: $BODY"
	printf '{"data":1}\n{"data":2}\n' >"$BATS_TEST_TMPDIR/batch"
	pl_publish "topic=$T&format=xml" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/batch"
	pl_expect_status 201
	xml_ok
	[ "$(xq 'count(/published/id)')" = 2 ] || pl_fail "batch reply: $BODY"
	[ "$(xq 'string(/published/id[2])')" -gt "$id" ] || pl_fail "batch ids: $BODY"
	pl_publish "topic=$T&format=jsonp&callback=done" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_status 200
	[[ "$BODY" =~ done\((.*)\) ]] || pl_fail "publish JSONP: $BODY"
	printf '%s' "${BASH_REMATCH[1]}" | jq_true '.id > 0' >/dev/null || pl_fail "publish JSONP: $BODY"

	pl_admin GET "/push/admin/messages/$id?format=xml"
	pl_expect_status 200
	pl_expect_ctype application/xml
	xml_ok
	[ "$(xq 'string(/message/@id)')" = "$id" ] || pl_fail "admin one: $BODY"
	[ "$(xq 'string(/message/data)' | jq -r .)" = 'a <b> & c' ] || pl_fail "admin one data: $BODY"
	pl_admin GET "/push/admin/messages/$id?format=jsonp&callback=one"
	[[ "$BODY" =~ one\((.*)\) ]] || pl_fail "admin one JSONP: $BODY"
	printf '%s' "${BASH_REMATCH[1]}" | jq_true --argjson id "$id" '.id == $id and has("last_get")' >/dev/null ||
		pl_fail "admin one JSONP: $BODY"
	pl_admin GET "/push/admin/messages/999999999?format=xml"
	pl_expect_status 404
	xml_ok
	[ -n "$(xq 'string(/error/@code)')" ] || pl_fail "admin 404 in XML: $BODY"

	pl_admin GET "/push/admin/stats?format=xml"
	pl_expect_status 200
	xml_ok
	[[ "$(xq 'string(/stats/@rows)')" =~ ^[0-9]+$ ]] || pl_fail "stats: $BODY"
	[ "$(xq 'string(/stats/@newest_id)')" -ge "$id" ] || pl_fail "stats newest_id: $BODY"
	pl_get "/push/health?format=xml"
	pl_expect_status 200
	xml_ok
	[ "$(xq 'string(/health/@status)')" = ok ] || pl_fail "health: $BODY"
	pl_get "/push/health?format=jsonp&callback=h"
	[[ "$BODY" =~ h\((.*)\) ]] || pl_fail "health JSONP: $BODY"

	# The admin list's own errors come in the asked format too.
	pl_admin PUT "/push/admin/messages?topic=$T&format=xml"
	pl_expect_status 405
	xml_ok
	[ -n "$(xq 'string(/error/@code)')" ] || pl_fail "admin 405 in XML: $BODY"
	pl_admin DELETE "/push/admin/messages?format=xml"
	pl_expect_status 400
	xml_ok
	[ -n "$(xq 'string(/error)')" ] || pl_fail "admin 400 in XML: $BODY"
	pl_admin DELETE "/push/admin/messages?topic=$T&format=xml"
	pl_expect_status 200
	xml_ok
	[ "$(xq 'string(/result/@deleted)')" = 4 ] || pl_fail "delete by filter: $BODY"
}
