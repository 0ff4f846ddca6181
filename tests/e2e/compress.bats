#!/usr/bin/env bats
# Compression by the web server (docs/deploy.md): poll and longpoll answers
# are gzip-encoded when the client accepts gzip and plain otherwise; streams
# are never compressed (each event arrives at once); a held long poll that
# accepts gzip is still released soon after its client leaves. Runs on the
# server PL_SERVER selects (lighttpd, apache, apache-proxy).
#
# A held long poll sends its head when it starts waiting, and lighttpd 1.4
# compresses only an answer complete when its head goes out: so the program
# gzips a held answer itself (lib/pl_gzip.h), on every server.

load helper

# Blanks every second, so that held answers carry some before their answer.
setup_file() { pl_setup_server longpoll_keepalive=1; }
teardown_file() { pl_teardown_server; }

setup() { pl_need publish poll; }

# A message large enough for any server's minimum (lighttpd: 256 bytes).
cz_text() {
	local i s=""
	for i in $(seq 1 40); do s="${s}pushlite message $i compresses well; "; done
	printf '%s' "$s"
}

# cz_raw PATH [CURL-ARGS...]: GET without decoding; HTTP_STATUS, HEADERS,
# RAW (file of the body as sent).
cz_raw() {
	local p=$1
	shift
	HEADERS=$BATS_TEST_TMPDIR/headers
	RAW=$BATS_TEST_TMPDIR/raw
	rm -f "$HEADERS" "$RAW"
	HTTP_STATUS=$(curl -sS -g --max-time 30 -D "$HEADERS" -o "$RAW" -w '%{http_code}' \
		"$@" "$PL_URL$p") || true
	PL_LAST="GET $p (raw)"
}

# cz_gzipped: the last answer says Content-Encoding: gzip, Vary names
# Accept-Encoding, and its body is gzip data.
cz_gzipped() {
	local ce vary
	ce=$(pl_hdr Content-Encoding) || { pl_show; pl_fail "no Content-Encoding: the answer is not compressed"; return 1; }
	[ "$ce" = gzip ] || { pl_show; pl_fail "Content-Encoding is '$ce', expected gzip"; return 1; }
	vary=$(pl_hdr Vary) || { pl_show; pl_fail "compressed answer without Vary"; return 1; }
	case $vary in
	*[Aa]ccept-[Ee]ncoding*) ;;
	*) pl_show; pl_fail "Vary is '$vary', expected Accept-Encoding"; return 1 ;;
	esac
}

cz_plain() {
	local ce
	ce=$(pl_hdr Content-Encoding) || return 0
	pl_show
	pl_fail "Content-Encoding: $ce on an answer that must stay plain"
}


# cz_check_doc FORMAT ID TEXT: BODY is a poll/longpoll document of FORMAT
# holding message ID with data TEXT.
cz_check_doc() {
	local fmt=$1 id=$2 text=$3
	case $fmt in
	json)
		pl_jq_true --argjson id "$id" --arg t "$text" \
			'[.messages[] | select(.id == $id) | .data] == [$t]'
		;;
	xml)
		printf '%s' "$BODY" | xmllint --noout - 2>/dev/null || { pl_show; pl_fail "not XML"; return 1; }
		[[ "$BODY" == *"id=\"$id\""* && "$BODY" == *"compresses well"* ]] ||
			{ pl_show; pl_fail "message $id missing from the XML"; }
		;;
	jsonp)
		[[ "$BODY" == *"cz("*'"id":'"$id"*"compresses well"* ]] ||
			{ pl_show; pl_fail "message $id missing from the JSONP"; }
		;;
	esac
}

cz_fmt_query() {
	case $1 in
	jsonp) echo "format=jsonp&callback=cz" ;;
	*) echo "format=$1" ;;
	esac
}

@test "poll: gzip-encoded when the client accepts gzip, plain otherwise (JSON, XML, JSONP)" {
	T=$(pl_topic)
	text=$(cz_text)
	pl_pub "$T" "$text"
	id=$PUB_ID
	for fmt in json xml jsonp; do
		q="topic=$T&since=all&$(cz_fmt_query "$fmt")"
		# curl --compressed: accepts gzip (and others), decodes
		pl_poll "$q" --compressed
		pl_expect_status 200
		cz_gzipped || pl_fail "format $fmt"
		cz_check_doc "$fmt" "$id" "$text"
		decoded=$BODY
		# the bytes on the wire are gzip, and decode to the same document
		cz_raw "/push/poll?$q" -H 'Accept-Encoding: gzip'
		cz_gzipped || pl_fail "format $fmt (Accept-Encoding: gzip)"
		[ "$(gzip -dc <"$RAW")" = "$decoded" ] || pl_fail "gzip body of format $fmt does not decode to the answer"
		[ "$(wc -c <"$RAW")" -lt "${#decoded}" ] || pl_fail "gzip body of format $fmt is not smaller"
		# a client that does not accept it gets it plain
		pl_poll "$q"
		pl_expect_status 200
		cz_plain || pl_fail "format $fmt without Accept-Encoding"
		[ "$BODY" = "$decoded" ] || pl_fail "plain and decoded answers differ (format $fmt)"
		cz_raw "/push/poll?$q" -H 'Accept-Encoding: identity'
		cz_plain || pl_fail "format $fmt with Accept-Encoding: identity"
	done
}

@test "poll: a large answer (about 400 KB) is gzip-encoded too, every time" {
	T=$(pl_topic)
	head -c 3000 /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/m"
	text=$(cat "$BATS_TEST_TMPDIR/m")
	printf '{"data":"%s"}\n' $(seq -f "$text-%g" 1 130) >"$BATS_TEST_TMPDIR/batch"
	pl_publish "topic=$T" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/batch"
	pl_expect_status 201
	for i in 1 2 3 4 5; do
		cz_raw "/push/poll?topic=$T&since=all&limit=1000" -H 'Accept-Encoding: gzip'
		[ "$HTTP_STATUS" = 200 ] || { pl_show; pl_fail "status $HTTP_STATUS"; }
		cz_gzipped || pl_fail "try $i: a $(wc -c <"$RAW")-byte answer went plain"
		gzip -dc <"$RAW" | jq_true '.messages | length == 130' >/dev/null || pl_fail "try $i: not the whole answer"
	done
}

@test "gzip refused with q=0 (or any zero q-value): plain answers from poll and longpoll, gzip still with q above 0" {
	T=$(pl_topic)
	pl_pub "$T" "$(cz_text)"
	for ae in 'gzip;q=0' 'gzip; q=0.000, identity' 'deflate;Q=0, gzip;q=0'; do
		for p in "/push/poll?topic=$T&since=all" "/push/longpoll?topic=$T&since=0"; do
			cz_raw "$p" -H "Accept-Encoding: $ae"
			[ "$HTTP_STATUS" = 200 ] || { pl_show; pl_fail "$p: status $HTTP_STATUS"; }
			cz_plain || pl_fail "$p with Accept-Encoding: $ae"
			jq_true '.messages | length == 1' "$RAW" >/dev/null || { cat "$RAW" >&2; pl_fail "$p: not the plain JSON answer"; }
		done
	done
	cz_raw "/push/poll?topic=$T&since=all" -H 'Accept-Encoding: gzip;q=0.5'
	cz_gzipped
}

@test "poll: the ETag of a compressed answer, sent back, still gets 304" {
	T=$(pl_topic)
	pl_pub "$T" "$(cz_text)"
	pl_poll "topic=$T&since=all" --compressed
	cz_gzipped
	etag=$(pl_hdr ETag) || { pl_show; pl_fail "no ETag"; }
	pl_poll "topic=$T&since=all" --compressed -H "If-None-Match: $etag"
	pl_expect_status 304
	[ -z "$BODY" ] || pl_fail "304 with a body"
	# and a new message makes it 200 again
	pl_pub "$T" more
	pl_poll "topic=$T&since=all" --compressed -H "If-None-Match: $etag"
	pl_expect_status 200
}

@test "longpoll: an answer ready at once arrives intact through --compressed (gzip on Apache), plain without Accept-Encoding" {
	pl_need longpoll
	T=$(pl_topic)
	text=$(cz_text)
	pl_pub "$T" "$text"
	id=$PUB_ID
	for fmt in json xml jsonp; do
		q="topic=$T&since=$((id - 1))&timeout=5&$(cz_fmt_query "$fmt")"
		pl_req GET "/push/longpoll?$q" --compressed
		pl_expect_status 200
		if [ "$PL_SERVER" = lighttpd ]; then
			# compressed only when the program's whole answer reached
			# lighttpd before it sent the head (see the top)
			ce=$(pl_hdr Content-Encoding) || ce=""
			case $ce in
			''|gzip) ;;
			*) pl_show; pl_fail "Content-Encoding '$ce'" ;;
			esac
		else
			cz_gzipped || pl_fail "format $fmt"
		fi
		cz_check_doc "$fmt" "$id" "$text"
		pl_req GET "/push/longpoll?$q"
		pl_expect_status 200
		cz_plain || pl_fail "format $fmt without Accept-Encoding"
		cz_check_doc "$fmt" "$id" "$text"
	done
}

# cz_held_start NAME QUERY [CURL-ARGS...]: a held long poll in the
# background, its raw body in $BATS_TEST_TMPDIR/NAME (headers NAME.h).
cz_held_start() {
	local name=$1 q=$2 out
	shift 2
	out=$BATS_TEST_TMPDIR/$name
	curl -sS -N -g --max-time 30 "$@" -D "$out.h" -o "$out" -w '%{http_code}' \
		"$PL_URL/push/longpoll?$q" >"$out.status" 2>"$out.err" 3>&- &
	CZ_PIDS+=("$!")
	# its head is out once it waits
	wait_for 10 test -s "$out.h" || pl_fail "$name: no head"
}

# cz_has_blanks NAME GZIP: the held long poll NAME has written its first two
# keep-alive blanks, "\n" and " " (a gzip stream is flushed after each, so
# what arrived so far decompresses to them).
cz_has_blanks() {
	local out=$BATS_TEST_TMPDIR/$1 head
	if [ "$2" = 1 ]; then
		head=$(gzip -dc <"$out" 2>/dev/null | head -c 2 | od -An -tx1)
	else
		head=$(head -c 2 "$out" | od -An -tx1)
	fi
	[ "$(echo $head)" = "0a 20" ]
}

# cz_held_read NAME GZIP: HTTP_STATUS, HEADERS and BODY of a finished held
# long poll; GZIP=1: it must be gzip, and gzip -d (which checks the CRC-32
# and length in the trailer) gives BODY; 0: it must be plain.
cz_held_read() {
	local name=$1 gz=$2 out=$BATS_TEST_TMPDIR/$1
	HTTP_STATUS=$(cat "$out.status")
	HEADERS=$out.h
	PL_LAST="held longpoll $name"
	pl_expect_status 200
	if [ "$gz" = 1 ]; then
		cz_gzipped || return 1
		gzip -t <"$out" 2>"$out.gzerr" || { pl_show; pl_fail "$name: not one whole gzip member: $(cat "$out.gzerr")"; }
		BODY=$(gzip -dc <"$out")
	else
		cz_plain || return 1
		BODY=$(cat "$out")
	fi
}

# cz_held_begin: a fresh topic T, a message text that compresses, and the
# cursor c of its head, for long polls that will wait.
cz_held_begin() {
	pl_need longpoll
	T=$(pl_topic)
	text=$(cz_text)
	pl_poll "topic=$T&since=now"
	c=$(pl_json .cursor)
}

@test "longpoll: a held answer is gzip when the client accepts gzip (whole, with its blanks), plain otherwise" {
	cz_held_begin
	# name, Accept-Encoding ('-': none sent), gzip expected
	cases=("gz:gzip:1" "list:deflate, gzip;q=0.8, br:1" "star:*:1" "refused:gzip;q=0, deflate:0"
		"identity:identity:0" "none:-:0")
	CZ_PIDS=()
	for cs in "${cases[@]}"; do
		IFS=: read -r name ae gz <<<"$cs"
		args=()
		[ "$ae" = - ] || args=(-H "Accept-Encoding: $ae")
		cz_held_start "$name" "topic=$T&since=$c&timeout=20" "${args[@]}"
		# keep-alive blanks (longpoll_keepalive = 1 here) go out before
		# the answer, a different number for each
		sleep 0.4
	done
	# publish only once each has two blanks, however slow the machine
	for cs in "${cases[@]}"; do
		IFS=: read -r name ae gz <<<"$cs"
		wait_for 10 cz_has_blanks "$name" "$gz" || pl_fail "$name: not two keep-alive blanks while held"
	done
	pl_pub "$T" "$text"
	wait "${CZ_PIDS[@]}" || true
	for cs in "${cases[@]}"; do
		IFS=: read -r name ae gz <<<"$cs"
		cz_held_read "$name" "$gz" || pl_fail "case $name ($ae)"
		cz_check_doc json "$PUB_ID" "$text"
		[[ "$BODY" == $'\n '* ]] || pl_fail "$name: no blank before the answer: '${BODY:0:20}'"
	done
}

@test "longpoll: every format of a held answer gzip-encoded, and the empty answer at its timeout too" {
	cz_held_begin
	CZ_PIDS=()
	for fmt in json xml jsonp; do
		cz_held_start "$fmt" "topic=$T&since=$c&timeout=20&$(cz_fmt_query "$fmt")" -H 'Accept-Encoding: gzip'
	done
	cz_held_start empty "topic=$T&since=$c&timeout=1" -H 'Accept-Encoding: gzip'
	wait "${CZ_PIDS[3]}" || true
	cz_held_read empty 1
	pl_jq_true --argjson c "$c" '.cursor >= $c and .messages == []'
	pl_pub "$T" "$text"
	wait "${CZ_PIDS[@]}" || true
	for fmt in json xml jsonp; do
		cz_held_read "$fmt" 1 || pl_fail "format $fmt"
		cz_check_doc "$fmt" "$PUB_ID" "$text"
	done
	# and curl --compressed reads it as any client would
	cz_held_start curl "topic=$T&since=$PUB_ID&timeout=20" --compressed
	pl_pub "$T" "$text"
	wait "${CZ_PIDS[@]}" || true
	HTTP_STATUS=$(cat "$BATS_TEST_TMPDIR/curl.status")
	HEADERS=$BATS_TEST_TMPDIR/curl.h
	BODY=$(cat "$BATS_TEST_TMPDIR/curl")
	pl_expect_status 200
	cz_gzipped
	cz_check_doc json "$PUB_ID" "$text"
}

@test "streams are never compressed: SSE, NDJSON and iframe events each arrive within a second with Accept-Encoding: gzip" {
	pl_need stream
	T=$(pl_topic)
	for fmt in sse ndjson js; do
		out=$BATS_TEST_TMPDIR/st.$fmt
		curl -sS -N -g --max-time 15 -H 'Accept-Encoding: gzip, deflate' -D "$out.h" -o "$out" \
			"$PL_URL/push/stream?topic=$T&format=$fmt&callback=cz" 2>"$out.err" 3>&- &
		st=$!
		wait_for 5 test -s "$out.h" || { kill "$st"; pl_fail "$fmt: no head"; }
		HEADERS=$out.h
		PL_LAST="stream $fmt"
		cz_plain || { kill "$st"; pl_fail "$fmt is compressed"; }
		# heartbeat = 1 and stream_max_time = 4 in the test config: two
		# events, each must show within a second of its publish
		for n in 1 2; do
			pl_pub "$T" "event $n of $fmt"
			t0=$(pl_now_ms)
			case $fmt in
			sse) pat="^id: *$PUB_ID" ;;
			*) pat="\"id\":$PUB_ID," ;;
			esac
			wait_for 1 grep -q -- "$pat" "$out" || {
				kill "$st" 2>/dev/null
				cat "$out.h" "$out" >&2
				pl_fail "$fmt: event $PUB_ID not there $(( $(pl_now_ms) - t0 )) ms after its publish"
			}
		done
		kill "$st" 2>/dev/null || true
		wait "$st" 2>/dev/null || true
	done
}

@test "a held long poll that accepts gzip is released within 10 s of its client leaving" {
	pl_need longpoll admin
	T=$(pl_topic)
	# Streams of the tests before end within stream_max_time (4 s); until
	# then one of them leaving could pass for this one.
	wait_for 10 waiting_le 0 || true
	w0=$(waiting_settled)
	[ -n "$w0" ] || pl_fail "no waiting count in stats"
	curl -sS -g --compressed --max-time 100 -o /dev/null \
		"$PL_URL/push/longpoll?topic=$T&timeout=90" 2>/dev/null 3>&- &
	lp=$!
	# (functions, so that each try reads the count afresh)
	wait_for 10 waiting_ge $((w0 + 1)) || { kill "$lp"; pl_fail "waiting stayed $(waiting)"; }
	sleep 1
	kill "$lp" 2>/dev/null || true
	wait "$lp" 2>/dev/null || true
	t0=$(pl_now_ms)
	wait_for 10 waiting_le "$w0" || pl_fail "waiting stays $(waiting) 10 s after the client left"
	echo "# released after $(( $(pl_now_ms) - t0 )) ms" >&3
}
