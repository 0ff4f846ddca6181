#!/usr/bin/env bats
# SPEC 2 and 10: topic syntax and subtree matching.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

seg16=$(printf '/s%.0s' $(seq 1 16))
seg17=$(printf '/s%.0s' $(seq 1 17))
len255="/$(printf 'a%.0s' $(seq 1 254))"
len256="/$(printf 'a%.0s' $(seq 1 255))"

# Refused by publish and by poll.
BAD_TOPICS=(
	'news' 'news/sports' '/news/' '//news' '/news//sports' '/news/./x' '/news/../x'
	'/.' '/..' '/a/.' '/a/..' '/a b' '/a%b' '/a?b' '/a#b' '/a*' '/a+b'
	'/a:b' '/a@b' '/a;b' '/a\b' '/<script>' '/é' '/a"b' "/a'b"
	"$seg17" "$len256"
)
GOOD_TOPICS=(
	'/a' '/A-Z_a.z~0-9' '/...' '/.x' '/x.' '/a.b/c~d/e_f/g-h' "$seg16" "$len255"
)

@test "publish refuses every malformed topic with 400 and stores nothing" {
	before=$(pl_stat last_id)
	fails=0
	for t in "${BAD_TOPICS[@]}" '/' ''; do
		pl_publish "topic=$(pl_urlenc "$t")" -H 'Content-Type: text/plain' --data-binary x
		pl_expect_error 400 2>/dev/null || { echo "publish topic '$t': got $HTTP_STATUS $BODY" >&2; fails=$((fails + 1)); }
	done
	after=$(pl_stat last_id)
	[ "$before" = "$after" ] || pl_fail "newest_id moved from $before to $after"
	[ "$fails" = 0 ]
}

@test "publish refuses a topic with a comma" {
	pl_publish "topic=/a,b" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 400
	pl_expect_nothing_stored /a
}

# Web servers refuse control characters in a URL themselves (lighttpd with a
# page of its own): the programs are asked directly, as plain CGI.
@test "publish and poll refuse topics with control characters or NUL (plain CGI)" {
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	for t in '/a%00b' '/a%09b' '/a%0Ab' '/a%0D%0AX-Evil:%201' '/a%7Fb'; do
		pl_cgi_req publish POST "topic=$t" x
		pl_expect_error 400 || pl_fail "publish topic=$t"
		pl_cgi_req poll GET "topic=$t"
		pl_expect_error 400 || pl_fail "poll topic=$t"
	done
	pl_expect_nothing_stored /a
}

@test "poll refuses every malformed topic with 400" {
	fails=0
	for t in "${BAD_TOPICS[@]}" ''; do
		pl_poll "topic=$(pl_urlenc "$t")"
		pl_expect_error 400 2>/dev/null || { echo "poll topic '$t': got $HTTP_STATUS $BODY" >&2; fails=$((fails + 1)); }
	done
	[ "$fails" = 0 ]
}

@test "poll without any topic is 400" {
	pl_get /push/poll
	pl_expect_error 400
	pl_poll "since=all"
	pl_expect_error 400
}

@test "valid topics (16 segments, 255 bytes, all allowed characters) are accepted and delivered" {
	fails=0
	for t in "${GOOD_TOPICS[@]}"; do
		pl_publish "topic=$(pl_urlenc "$t")" -H 'Content-Type: text/plain' --data-binary "to $t"
		if ! pl_expect_status 201 2>/dev/null; then
			echo "publish '$t': $HTTP_STATUS $BODY" >&2; fails=$((fails + 1)); continue
		fi
		id=$(pl_json .id)
		pl_poll "topic=$(pl_urlenc "$t")&since=$((id - 1))"
		pl_jq_true --argjson id "$id" --arg t "$t" '.messages[0].id == $id and .messages[0].topic == $t' 2>/dev/null ||
			{ echo "poll '$t': $HTTP_STATUS $BODY" >&2; fails=$((fails + 1)); }
	done
	[ "$fails" = 0 ]
}

@test "a topic in the query may be percent-encoded or not" {
	T=$(pl_topic /x/y)
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary raw
	pl_expect_status 201
	pl_publish "topic=$(pl_urlenc "$T")" -H 'Content-Type: text/plain' --data-binary encoded
	pl_expect_status 201
	pl_poll "topic=$(pl_urlenc "$T")&since=all"
	pl_jq_true '[.messages[].data] == ["raw","encoded"]'
	pl_poll "topic=$T&since=all"
	pl_jq_true '[.messages[].data] == ["raw","encoded"]'
}

@test "subtree: /news receives /news and /news/sports, not /newsletter nor /news2" {
	B=$(pl_topic)
	pl_pub "$B/news" n1; a=$PUB_ID
	pl_pub "$B/news/sports" n2; b=$PUB_ID
	pl_pub "$B/newsletter" n3
	pl_pub "$B/news2" n4
	pl_pub "$B/news/sports/live" n5; c=$PUB_ID
	pl_poll "topic=$B/news&since=all"
	pl_expect_status 200
	[ "$(pl_ids)" = "$a $b $c" ] || { pl_show; pl_fail "got ids $(pl_ids), want $a $b $c"; }
	pl_poll "topic=$B/news/sports&since=all"
	[ "$(pl_ids)" = "$b $c" ] || { pl_show; pl_fail "got ids $(pl_ids), want $b $c"; }
	pl_poll "topic=$B/newsletter&since=all"
	pl_jq_true '[.messages[].data] == ["n3"]'
}

@test "topics are case-sensitive" {
	B=$(pl_topic)
	pl_pub "$B/News" upper
	pl_pub "$B/news" lower
	pl_poll "topic=$B/news&since=all"
	pl_jq_true '[.messages[].data] == ["lower"]'
	pl_poll "topic=$B/News&since=all"
	pl_jq_true '[.messages[].data] == ["upper"]'
}

@test "a subscription to / receives every topic" {
	B=$(pl_topic)
	pl_pub "$B/one" x; a=$PUB_ID
	pl_pub "/other$BATS_TEST_NUMBER/two" y; b=$PUB_ID
	pl_poll "topic=/&since=$((a - 1))"
	pl_expect_status 200
	pl_jq_true --argjson a "$a" --argjson b "$b" '[.messages[].id] | index($a) != null and index($b) != null'
}

@test "several topics (comma list or repeated topic=): each message once, in id order" {
	B=$(pl_topic)
	pl_pub "$B/a" a1; a1=$PUB_ID
	pl_pub "$B/b" b1; b1=$PUB_ID
	pl_pub "$B/c" c1
	pl_pub "$B/a/x" ax; ax=$PUB_ID
	pl_pub "$B/b" b2; b2=$PUB_ID
	want="$a1 $b1 $ax $b2"
	pl_poll "topic=$B/a,$B/b&since=all"
	[ "$(pl_ids)" = "$want" ] || { pl_show; pl_fail "comma list: got $(pl_ids), want $want"; }
	pl_poll "topic=$B/a&topic=$B/b&since=all"
	[ "$(pl_ids)" = "$want" ] || { pl_show; pl_fail "repeated: got $(pl_ids), want $want"; }
	# /a and /a/x both match the /a/x message: delivered once
	pl_poll "topic=$B/a,$B/a/x,$B/a&since=all"
	[ "$(pl_ids)" = "$a1 $ax" ] || { pl_show; pl_fail "overlap: got $(pl_ids), want $a1 $ax"; }
	pl_poll "topic=$(pl_urlenc "$B/a,$B/b")&since=all"
	[ "$(pl_ids)" = "$want" ] || { pl_show; pl_fail "encoded comma list: got $(pl_ids), want $want"; }
}

@test "one bad topic among several: 400" {
	B=$(pl_topic)
	pl_poll "topic=$B/a,$B/../b"
	pl_expect_error 400
	pl_poll "topic=$B/a&topic=nope"
	pl_expect_error 400
	pl_poll "topic=$B/a,"
	pl_expect_error 400
}
