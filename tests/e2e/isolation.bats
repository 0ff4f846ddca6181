#!/usr/bin/env bats
# SPEC 4 and 7: a user's message reaches that user only, through every
# endpoint, format, cursor form and identity; a subscriber without client=
# gets only messages without clients; hostile data never becomes script in
# the iframe stream or JSONP, and XML stays well-formed.
#
# The matrix runs all its requests in one curl process (--parallel, a
# config file of transfers) and checks every answer in one node process
# (tests/tools/check-output.js), so that about 1,100 requests take seconds.

load helper
load reliability

setup_file() {
	pl_setup_server stream_max_time=2 heartbeat=1
	# The data set: markers name the target user and the client kinds.
	# M<n>:U=<user|all>:K=<kinds|all>
	local p=(-H "Authorization: Bearer $PL_PUB_TOKEN" -H 'Content-Type: text/plain')
	pub() {  # pub QUERY DATA [CURL-ARGS]
		local q=$1 d=$2 code
		shift 2
		code=$(curl -sS -o /dev/null -w '%{http_code}' "${p[@]}" "$@" --data-binary "$d" \
			"$PL_URL/push/publish?$q")
		[ "$code" = 201 ] || { echo "publish $q $d: $code" >&2; return 1; }
	}
	pl_poll "topic=/iso&since=now"
	ISO_BEFORE=$(pl_json .cursor)
	pub "topic=/iso" "M1:U=all:K=all"
	pub "topic=/iso&user=alice" "M2:U=alice:K=all"
	pub "topic=/iso" "M3:U=bob:K=all" -H 'X-User: bob'
	pub "topic=/iso&clients=pc" "M4:U=all:K=pc"
	pub "topic=/iso" "M5:U=all:K=ios" -H 'X-Clients: ios'
	pub "topic=/iso/deep&user=alice&clients=pc" "M6:U=alice:K=pc"
	curl -sS -o /dev/null -H "Authorization: Bearer $PL_PUB_TOKEN" -H 'Content-Type: application/x-ndjson' \
		--data-binary $'{"topic":"/iso","user":"bob","clients":["pc","ios"],"data":"M7:U=bob:K=pcios"}\n{"topic":"/iso/deep","user":"alice","clients":"ios","data":"M8:U=alice:K=ios"}\n{"topic":"/iso","clients":"pc,ios","data":"M9:U=all:K=pcios"}' \
		"$PL_URL/push/publish"
	curl -sS -o /dev/null -H "Authorization: Bearer $PL_PUB_TOKEN" \
		--data-urlencode 'data=M10:U=bob:K=all' -d topic=/iso/deep -d user=bob "$PL_URL/push/publish"
	# same topic prefix, not below: never delivered to /iso subscribers
	pub "topic=/isolated" "M99:U=all:K=all"
	n=$(pl_count_topic /iso)
	[ "$n" = 10 ] || { echo "data set: $n messages under /iso, expected 10" >&2; return 1; }
	ALICE=$(pl_user_token alice)
	BOB=$(pl_user_token bob)
	export ISO_BEFORE ALICE BOB
}
teardown_file() { pl_teardown_server; }

setup() {
	pl_need publish poll longpoll stream admin
	command -v node >/dev/null || skip "node is not installed"
	CHECK="node $PL_ROOT/tests/tools/check-output.js"
}

# The ten markers and who may see them.
MARKERS="M1:U=all:K=all M2:U=alice:K=all M3:U=bob:K=all M4:U=all:K=pc M5:U=all:K=ios
M6:U=alice:K=pc M7:U=bob:K=pcios M8:U=alice:K=ios M9:U=all:K=pcios M10:U=bob:K=all"

# allowed USER CLIENT MARKER: may USER ("" = anonymous) with client kind
# CLIENT ("" = none) receive MARKER?
allowed() {
	local u=${3#*:U=} k=${3#*:K=}
	u=${u%%:*}
	[ "$u" = all ] || [ "$u" = "$1" ] || return 1
	[ "$k" = all ] && return 0
	[ -n "$2" ] || return 1
	case $k in *"$2"*) return 0 ;; esac
	return 1
}

# json_list VAR WORD...: VAR = a JSON array of the strings (no subshell:
# the matrix builds about 1,200 of them).
json_list() {
	local -n jl_out=$1
	local jl_w jl_sep=""
	shift
	jl_out="["
	for jl_w in "$@"; do jl_out="$jl_out$jl_sep\"$jl_w\""; jl_sep=,; done
	jl_out="$jl_out]"
}

# expect_for USER CLIENT: sets EXP to the manifest fields for that identity
# ("-" = a refused token, "!" = a publish or admin token, refused as not a
# subscriber's: nothing at all), cached per identity.
expect_for() {
	local key="$1|$2" m al=() de=() words ea ed ew
	[[ "$(declare -p EXP_CACHE 2>/dev/null)" == "declare -A"* ]] || declare -gA EXP_CACHE=()
	if [ -n "${EXP_CACHE[$key]-}" ]; then EXP=${EXP_CACHE[$key]}; return; fi
	for m in $MARKERS; do
		if [ "$1" != - ] && [ "$1" != '!' ] && allowed "$1" "$2" "$m"; then al+=("$m"); else de+=("$m"); fi
	done
	case $1 in
	alice) words=(bob) ;;
	bob) words=(alice) ;;
	*) words=(alice bob) ;;
	esac
	words+=("M99:")
	json_list ea ${al[@]+"${al[@]}"}
	json_list ed ${de[@]+"${de[@]}"}
	json_list ew "${words[@]}"
	EXP="\"allowed\":$ea,\"denied\":$ed,\"words_denied\":$ew"
	[ "$1" = - ] && EXP="$EXP,\"words_required\":[\"unauthorized\"]"
	[ "$1" = '!' ] && EXP="$EXP,\"words_required\":[\"forbidden\"]"
	EXP_CACHE[$key]=$EXP
}

# add_req NAME URL-PATH POSITIVE USER CLIENT WANT-STATUS... -- CURL-HEADER...
# One transfer in the curl config and one line in the manifest.
add_req() {
	local name=$1 path=$2 positive=$3 user=$4 client=$5 want=() h ws
	shift 5
	while [ $# -gt 0 ] && [ "$1" != -- ]; do want+=("$1"); shift; done
	[ "${1-}" = -- ] && shift
	{
		[ -s "$D/curl.cfg" ] && printf 'next\n'
		printf 'url = "%s%s"\n' "$PL_URL" "$path"
		printf 'output = "%s/%s.body"\ndump-header = "%s/%s.hdr"\n' "$D" "$name" "$D" "$name"
		printf 'max-time = 15\ngloboff\n'
		for h in "$@"; do printf 'header = "%s"\n' "$h"; done
	} >>"$D/curl.cfg"
	expect_for "$user" "$client"
	json_list ws "${want[@]}"
	printf '{"name":"%s","file":"%s/%s.body","status_file":"%s/%s.hdr","want_status":%s,%s,"positive":%s}\n' \
		"$name" "$D" "$name" "$D" "$name" "$ws" "$EXP" "$positive" >>"$D/manifest"
}

run_matrix() {  # run_matrix: all transfers at once, then every check
	local rc=0
	local t0=$SECONDS
	curl -s --parallel --parallel-max 64 --config "$D/curl.cfg" 2>"$D/curl.err" || rc=$?
	echo "# curl: $(( SECONDS - t0 )) s" >&3
	[ "$rc" = 0 ] || tail -c 500 "$D/curl.err" >&2
	# curl's exit is the last transfer's error, if any: the checks tell more.
	run $CHECK matrix "$D/manifest"
	echo "$output" | head -50 >&2
	[ "$status" = 0 ] || pl_fail "matrix failed (curl exit $rc)"
	CHECKED=$(echo "$output" | sed -n 's/^checked //p')
}

# Endpoint x format pairs: poll and longpoll in json, xml, jsonp; stream in
# sse, ndjson, js.
EPFMTS="poll:json poll:xml poll:jsonp longpoll:json longpoll:xml longpoll:jsonp stream:sse stream:ndjson stream:js"

# matrix_requests: the matrix's transfers and manifest lines; prints their
# number.
matrix_requests() {
	local first=$ISO_BEFORE i=0 ef ep fmt extra since sq hdr positive ident client q h u
	for ef in $EPFMTS; do
		ep=${ef%%:*} fmt=${ef#*:}
		extra="format=$fmt"
		[ "$fmt" = jsonp ] && extra="$extra&callback=cb"
		[ "$ep" = longpoll ] && extra="$extra&timeout=1"
		for since in all 0 now 10m id lei; do
			sq="since=$since" hdr=() positive=true
			case $since in
			id) sq="since=$first" ;;
			lei) sq="since=now"; hdr=("Last-Event-ID: $first") ;;
			now) positive=false ;;
			esac
			for ident in anon alice_q alice_h bob_q bob_h anon_spoof; do
				for client in "" pc ios; do
					i=$(( i + 1 ))
					q="topic=/iso&$sq&$extra${client:+&client=$client}"
					h=(${hdr[@]+"${hdr[@]}"})
					case $ident in
					anon) u="" ;;
					alice_q) u=alice q="$q&token=$ALICE" ;;
					alice_h) u=alice h+=("Authorization: Bearer $ALICE") ;;
					bob_q) u=bob q="$q&token=$BOB" ;;
					bob_h) u=bob h+=("Authorization: Bearer $BOB") ;;
					anon_spoof) u="" h+=("Remote-User: alice" "X-Remote-User: alice" "X-User: alice") ;;
					esac
					add_req "r$i-$ep-$fmt-$since-$ident-${client:-none}" "/push/$ep?$q" \
						"$positive" "$u" "$client" 200 -- ${h[@]+"${h[@]}"}
				done
			done
		done
	done
	echo "$i"
}

@test "matrix: endpoint x format x since x identity x client kind; nobody gets another user's message" {
	D=$BATS_TEST_TMPDIR
	: >"$D/curl.cfg"
	: >"$D/manifest"
	i=$(pl_untraced matrix_requests)
	run_matrix
	(( CHECKED == i && i == 972 )) || pl_fail "checked $CHECKED of $i"
	rl_note "isolation matrix: $CHECKED answers checked (9 endpoint/format pairs x 6 cursor forms x 6 identities x 3 client kinds)"
}

@test "forged, expired, tampered and malformed tokens: 401 everywhere, publish and admin tokens 403 (JSONP: 200 with the error inside), no message" {
	D=$BATS_TEST_TMPDIR
	: >"$D/curl.cfg"
	: >"$D/manifest"
	now=$(date +%s)
	valid=$(pl_make_token alice $(( now + 3600 )))
	sig=${valid##*.}
	bad=(
		"$(pl_make_token alice $(( now + 3600 )) wrong-secret-0123456789abcdef)"   # forged
		"$(pl_make_token alice $(( now - 5 )))"                                    # expired
		"v1.bob.$(( now + 3600 )).$sig"                                             # tampered user
		"v1.alice.$(( now + 7200 )).$sig"                                           # tampered expiry
		"$valid="                                                                   # padded signature
		"${valid%?}"                                                                # truncated signature
		"v1.alice.$(( now + 3600 ))"                                                # no signature
		"v2.alice.$(( now + 3600 )).$sig"                                           # unknown version
		"v1..$(( now + 3600 )).$sig"                                                # empty user
		"v1.alice.x.$sig"                                                           # bad expiry
		"garbage"
	)
	i=$(pl_untraced token_requests)
	run_matrix
	(( CHECKED == i && i == 234 )) || pl_fail "checked $CHECKED of $i"
	rl_note "bad tokens: $CHECKED answers checked (11 bad and 2 publish/admin tokens x 2 ways x 9 endpoint/format pairs)"
}

# token_requests: the transfers of the bad-token test (tokens in "bad");
# prints their number.
token_requests() {
	local i=0 ef ep fmt extra want t
	for ef in $EPFMTS; do
		ep=${ef%%:*} fmt=${ef#*:}
		extra="format=$fmt"
		[ "$fmt" = jsonp ] && extra="$extra&callback=cb"
		[ "$ep" = longpoll ] && extra="$extra&timeout=0"
		want=401
		[ "$fmt" = jsonp ] && want=200
		for t in "${bad[@]}"; do
			i=$(( i + 1 ))
			add_req "b$i-$ep-$fmt-q" "/push/$ep?topic=/iso&since=all&$extra&token=$(pl_urlenc "$t")" \
				false - "" "$want"
			i=$(( i + 1 ))
			add_req "b$i-$ep-$fmt-h" "/push/$ep?topic=/iso&since=all&$extra" false - "" "$want" -- \
				"Authorization: Bearer $t"
		done
		# a publish or admin token is a credential, but no subscriber's identity
		want=403
		[ "$fmt" = jsonp ] && want=200
		for t in "$PL_PUB_TOKEN" "$PL_ADMIN_TOKEN"; do
			i=$(( i + 1 ))
			add_req "b$i-$ep-$fmt-q" "/push/$ep?topic=/iso&since=all&$extra&token=$(pl_urlenc "$t")" \
				false '!' "" "$want"
			i=$(( i + 1 ))
			add_req "b$i-$ep-$fmt-h" "/push/$ep?topic=/iso&since=all&$extra" false '!' "" "$want" -- \
				"Authorization: Bearer $t"
		done
	done
	echo "$i"
}

# cgi_status FILE: the status of a raw CGI reply as an HTTP status line.
cgi_status() {
	local st
	st=$(awk '{ sub(/\r$/, "") } /^$/ { exit } tolower($1) == "status:" { print $2; exit }' "$1")
	echo "HTTP/1.1 ${st:-200}"
}

@test "REMOTE_USER (plain CGI): the web server's user sees own and broadcast messages only, and beats a token" {
	D=$BATS_TEST_TMPDIR
	: >"$D/manifest"
	first=$ISO_BEFORE
	i=0
	pids=()
	for ef in $EPFMTS; do
		ep=${ef%%:*} fmt=${ef#*:}
		extra="format=$fmt"
		[ "$fmt" = jsonp ] && extra="$extra&callback=cb"
		[ "$ep" = longpoll ] && extra="$extra&timeout=0"
		for since in all id lei; do
			for ident in alice bob alice_with_bob_token spoof; do
				for client in "" pc; do
					i=$(( i + 1 ))
					sq="since=all" env=()
					[ "$since" = id ] && sq="since=$first"
					[ "$since" = lei ] && { sq="since=now"; env+=(HTTP_LAST_EVENT_ID="$first"); }
					q="topic=/iso&$sq&$extra${client:+&client=$client}"
					case $ident in
					alice) u=alice env+=(REMOTE_USER=alice) ;;
					bob) u=bob env+=(REMOTE_USER=bob) ;;
					alice_with_bob_token) u=alice env+=(REMOTE_USER=alice HTTP_AUTHORIZATION="Bearer $BOB") q="$q&token=$BOB" ;;
					spoof) u="" env+=(HTTP_REMOTE_USER=alice HTTP_X_REMOTE_USER=alice) ;;
					esac
					name="c$i-$ep-$fmt-$since-$ident-${client:-none}"
					(
						CGI_ENV=("${env[@]}")
						pl_cgi "$ep" GET "$q" >"$D/$name.raw" 2>"$D/$name.err"
						echo $? >"$D/$name.rc"
					) 3>&- &
					pids+=($!)
					if [ "$ep" != stream ]; then wait "$!"; fi
					expect_for "$u" "$client"
					printf '{"name":"%s","file":"%s/%s.raw","status_file":"%s/%s.st","want_status":["200"],%s,"positive":true}\n' \
						"$name" "$D" "$name" "$D" "$name" "$EXP" >>"$D/manifest"
				done
			done
		done
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	for f in "$D"/c*.raw; do
		n=${f%.raw}
		rc=$(cat "$n.rc")
		[ "$rc" -lt 128 ] || pl_fail "$(basename "$n"): died with status $rc"
		cgi_status "$f" >"$n.st"
	done
	run $CHECK matrix "$D/manifest"
	echo "$output" | head -40 >&2
	[ "$status" = 0 ] || pl_fail "REMOTE_USER matrix failed"
	rl_note "REMOTE_USER via plain CGI: $(echo "$output" | sed -n 's/^checked //p') answers checked"
}

@test "live: held long polls and streams of alice, bob, anonymous and pc clients wake with their own messages only" {
	D=$BATS_TEST_TMPDIR
	T=/iso/live
	pids=()
	idents=(anon alice bob alice_pc anon_pc)
	for ident in "${idents[@]}"; do
		case $ident in
		anon) q="" ;;
		alice) q="&token=$ALICE" ;;
		bob) q="&token=$BOB" ;;
		alice_pc) q="&token=$ALICE&client=pc" ;;
		anon_pc) q="&client=pc" ;;
		esac
		curl -sS --max-time 20 -o "$D/lp.$ident" "$PL_URL/push/longpoll?topic=$T&timeout=15$q" 3>&- &
		pids+=($!)
		curl -sS -N --max-time 20 -o "$D/st.$ident" "$PL_URL/push/stream?topic=$T&format=ndjson$q" 3>&- &
		pids+=($!)
	done
	held() { [ "$(pl_stat waiting)" -ge 10 ]; }
	wait_for 10 held || pl_fail "only $(pl_stat waiting) held"
	# one batch: all commit at once, so every held request sees all of it
	pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary \
		$'{"topic":"/iso/live","user":"bob","data":"L1:bob"}\n{"topic":"/iso/live","user":"alice","data":"L2:alice"}\n{"topic":"/iso/live","clients":"pc","data":"L3:pc"}\n{"topic":"/iso/live","user":"alice","clients":"pc","data":"L4:alicepc"}\n{"topic":"/iso/live","data":"L5:all"}'
	pl_expect_status 201
	for p in "${pids[@]}"; do wait "$p" || true; done
	want() {
		case $1 in
		anon) echo "L5:all" ;;
		alice) echo "L2:alice L5:all" ;;
		bob) echo "L1:bob L5:all" ;;
		alice_pc) echo "L2:alice L3:pc L4:alicepc L5:all" ;;
		anon_pc) echo "L3:pc L5:all" ;;
		esac
	}
	for ident in "${idents[@]}"; do
		got=$(jq -r '.messages[].data' "$D/lp.$ident" | tr '\n' ' ' | sed 's/ $//')
		[ "$got" = "$(want "$ident")" ] || pl_fail "longpoll $ident got '$got', expected '$(want "$ident")'"
		got=$(grep -v '^$' "$D/st.$ident" | jq -r .data | tr '\n' ' ' | sed 's/ $//')
		[ "$got" = "$(want "$ident")" ] || pl_fail "stream $ident got '$got', expected '$(want "$ident")'"
	done
}

# ------------------------------------------------------------ hostile data
H1='</script><script>alert(1)</script>'
H2='<!--<script>alert(2)//'
H3=']]><x>&amp;</x><![CDATA[ & < >'
H4="\"quotes' \\\"back\\\\slash"
H5=$'line\u2028sep\u2029para\ufffe\uffffend'
H7='</SCRIPT ><img src=x onerror=alert(3)>'

publish_hostile() {
	T=/hostile
	HOSTILE_WANT=$(jq -cn --arg a "$H1" --arg b "$H2" --arg c "$H3" --arg d "$H4" --arg e "$H5" \
		--arg h "$H7" '[$a, $b, $c, $d, $e, {html: $h, ls: $e, n: 1}, "typed"]')
	[ "$(pl_count_topic $T)" = 0 ] || return 0
	for d in "$H1" "$H2" "$H3" "$H4" "$H5"; do pl_pub "$T" "$d"; done
	pl_publish "topic=$T" -H 'Content-Type: application/json' \
		--data-binary "$(jq -cn --arg a "$H7" --arg b "$H5" '{html: $a, ls: $b, n: 1}')"
	pl_expect_status 201
	pl_pub "$T" typed -H 'X-Type: <b>"x'"'"'&</b>' -H 'X-Src: ]]>' -H 'X-Target: </script>'
}

hostile_expect() {  # hostile_expect JSON-ARRAY-OF-MESSAGES WHAT
	local got
	got=$(jq -c '[.[].data]' <<<"$1")
	[ "$(jq -S . <<<"$got")" = "$(jq -S . <<<"$HOSTILE_WANT")" ] ||
		pl_fail "$2: data differs: got $got, expected $HOSTILE_WANT"
	jq_true '.[-1].type == "<b>\"x'"'"'&</b>" and .[-1].src == "]]>" and .[-1].target == "</script>"' <<<"$1" >/dev/null ||
		pl_fail "$2: labels differ: $(jq -c '.[-1]' <<<"$1")"
}

@test "hostile data through the iframe stream (format=js): no script escapes, no raw U+2028, data intact" {
	publish_hostile
	for cb in pushlite_cb onPush; do
		curl -sS -N --max-time 10 -o "$BATS_TEST_TMPDIR/if" \
			"$PL_URL/push/stream?topic=/hostile&since=all&format=js&callback=$cb"
		[ "$cb" = pushlite_cb ] && curl -sS -N --max-time 10 -o "$BATS_TEST_TMPDIR/if" \
			"$PL_URL/push/stream?topic=/hostile&since=all&format=js"
		run $CHECK iframe "$BATS_TEST_TMPDIR/if" "$cb"
		[ "$status" = 0 ] || pl_fail "iframe ($cb): $output"
		hostile_expect "$output" "iframe $cb"
	done
	# and in the raw bytes: no closing tag, comment opener or CDATA end
	# inside any script element
	! grep -q 'alert(1)</script>' "$BATS_TEST_TMPDIR/if"
	# a dotted name could walk from parent into another window of this
	# origin: refused, as JSON, before any script is written
	pl_get "/push/stream?topic=/hostile&since=all&format=js&callback=opener.document.body.click"
	pl_expect_status 400
	[[ $(pl_hdr Content-Type) == application/json* ]] && [[ $BODY != *"<script"* ]] || { pl_show; pl_fail "dotted iframe callback"; }
}

@test "hostile data through JSONP (poll and longpoll): runs as exactly one call, data intact" {
	publish_hostile
	for ep in poll longpoll; do
		for cb in cb app.onPush; do
			curl -sS --max-time 10 -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/j" \
				"$PL_URL/push/$ep?topic=/hostile&since=all&format=jsonp&callback=$cb&timeout=0"
			# docs/protocol.md says application/javascript; text/javascript is
			# the registered type today (RFC 9239): both run as script.
			grep -qi '^content-type: \(application\|text\)/javascript' "$BATS_TEST_TMPDIR/h" ||
				pl_fail "$ep: $(grep -i content-type "$BATS_TEST_TMPDIR/h")"
			grep -qi '^x-content-type-options: nosniff' "$BATS_TEST_TMPDIR/h" || pl_fail "$ep: no nosniff"
			run $CHECK jsonp "$BATS_TEST_TMPDIR/j" "$cb"
			[ "$status" = 0 ] || pl_fail "$ep jsonp: $output"
			hostile_expect "$(jq -c .messages <<<"$output")" "$ep jsonp $cb"
		done
	done
}

@test "JSONP: raw U+2028/U+2029 never appear (pre-2019 engines read them as line ends: a syntax error)" {
	publish_hostile
	for ep in poll longpoll; do
		curl -sS --max-time 10 -o "$BATS_TEST_TMPDIR/j" \
			"$PL_URL/push/$ep?topic=/hostile&since=all&format=jsonp&callback=cb&timeout=0"
		if grep -q $'\u2028\|\u2029' "$BATS_TEST_TMPDIR/j"; then
			pl_fail "$ep: the JSONP answer carries raw U+2028/U+2029: $(grep -o $'.\{20\}\u2028' "$BATS_TEST_TMPDIR/j" | head -1)"
		fi
	done
}

@test "hostile data through XML (poll, longpoll, errors): well-formed (xmllint), data intact" {
	publish_hostile
	for ep in poll longpoll; do
		pl_get "/push/$ep?topic=/hostile&since=all&format=xml&timeout=0"
		pl_expect_status 200
		printf '%s' "$BODY" >"$BATS_TEST_TMPDIR/x.xml"
		xmllint --noout "$BATS_TEST_TMPDIR/x.xml" || pl_fail "$ep: not well-formed: ${BODY:0:500}"
		n=$(xmllint --xpath 'count(/messages/message)' "$BATS_TEST_TMPDIR/x.xml")
		[ "$n" = 7 ] || pl_fail "$ep: $n messages"
		got="["
		for k in $(seq 1 7); do
			got="$got$([ "$k" = 1 ] || echo ,)$(xmllint --xpath "string(/messages/message[$k]/data)" "$BATS_TEST_TMPDIR/x.xml")"
		done
		got="$got]"
		[ "$(jq -S . <<<"$got")" = "$(jq -S . <<<"$HOSTILE_WANT")" ] || pl_fail "$ep xml: data $got"
		[ "$(xmllint --xpath 'string(/messages/message[7]/@type)' "$BATS_TEST_TMPDIR/x.xml")" = '<b>"x'"'"'&</b>' ] ||
			pl_fail "$ep xml: type attribute"
		[ "$(xmllint --xpath 'string(/messages/message[7]/@target)' "$BATS_TEST_TMPDIR/x.xml")" = '</script>' ] ||
			pl_fail "$ep xml: target attribute"
	done
	# error answers in XML, with hostile input in the request
	for q in "topic=/a<b>&format=xml" "topic=/a&since=]]>&format=xml" "topic=/a&limit=%22%3C&format=xml"; do
		pl_get "/push/poll?$q"
		pl_expect_status 400
		printf '%s' "$BODY" | xmllint --noout - || pl_fail "error not well-formed: $BODY"
	done
}

@test "hostile data through SSE and NDJSON: one event per message, data intact" {
	publish_hostile
	curl -sS -N --max-time 10 -o "$BATS_TEST_TMPDIR/sse" "$PL_URL/push/stream?topic=/hostile&since=all"
	got=$(sed -n 's/^data: //p' "$BATS_TEST_TMPDIR/sse" | jq -sc .)
	hostile_expect "$got" sse
	[ "$(grep -c '^id: ' "$BATS_TEST_TMPDIR/sse")" = 7 ] || pl_fail "sse: not 7 events"
	curl -sS -N --max-time 10 -o "$BATS_TEST_TMPDIR/nd" "$PL_URL/push/stream?topic=/hostile&since=all&format=ndjson"
	got=$(grep -v '^$' "$BATS_TEST_TMPDIR/nd" | jq -sc .)
	hostile_expect "$got" ndjson
}

@test "JSONP callback names: alert(1)//, a;b, too long and other non-names are refused (400 JSON); names are accepted" {
	long=$(head -c 65 /dev/zero | tr '\0' a)
	ok64=$(head -c 64 /dev/zero | tr '\0' a)
	for cb in 'alert(1)//' 'a;b' "$long" 'a..b' '.a' 'a.' '1a' 'a-b' 'a b' '<script>' \
		'a]' 'é' 'a=b' 'a,b' '/**/a' 'a//' "a'b" 'a"b' 'a\u2028b' $'a\u2028b'; do
		enc=$(pl_urlenc "$cb")
		for ep in poll longpoll; do
			pl_get "/push/$ep?topic=/hostile&format=jsonp&timeout=0&callback=$enc"
			pl_expect_error 400
		done
		pl_get "/push/stream?topic=/hostile&format=js&callback=$enc"
		pl_expect_error 400
	done
	# format=jsonp without a callback
	pl_get "/push/poll?topic=/hostile&format=jsonp"
	pl_expect_error 400
	for cb in cb app.onPush "$ok64" '$_.x1' jQuery123_456; do
		pl_get "/push/poll?topic=/hostile&format=jsonp&callback=$cb"
		pl_expect_status 200
		[[ "$BODY" == "/**/$cb("* ]] || pl_fail "callback $cb: ${BODY:0:100}"
	done
}

# no_injected: the last answer has no X-Injected header.
no_injected() {
	! grep -qi '^x-injected' "$HEADERS" || { pl_show; pl_fail "header injected"; }
}

@test "header injection: CR/LF in a query field: lighttpd refuses it (400, its own page); pushlite refuses it too (plain CGI, 400 JSON); never echoed into a header" {
	T=/hostile/hdr
	pubq=("type=a%0d%0aX-Injected:%201" "src=a%0aX-Injected:1" "user=a%0d%0aX-Injected:1"
		"clients=pc%0d%0aX-Injected:1" "ttl=1%0d%0aX-Injected:1" "topic=/a%0d%0aX-Injected:1")
	subq=("since=1%0d%0aX-Injected:1" "topic=/a%0d%0aX-Injected:1" "client=pc%0d%0aX-Injected:1"
		"callback=cb%0d%0aX-Injected:1&format=jsonp" "type=a%0d%0aX-Injected:1")
	for q in "${pubq[@]}"; do
		[[ "$q" == topic=* ]] || q="topic=$T&$q"
		pl_publish "$q" -H 'Content-Type: text/plain' --data-binary x
		pl_expect_status 400
		no_injected
		CGI_ENV=(CONTENT_TYPE=text/plain HTTP_AUTHORIZATION="Bearer $PL_PUB_TOKEN")
		pl_cgi_req publish POST "$q" x
		pl_expect_error 400
		no_injected
	done
	CGI_ENV=()
	for q in "${subq[@]}"; do
		[[ "$q" == topic=* ]] || q="topic=$T&$q"
		for ep in poll longpoll stream; do
			pl_get "/push/$ep?timeout=0&$q"
			pl_expect_status 400
			no_injected
			pl_cgi_req "$ep" GET "timeout=0&$q"
			pl_expect_error 400
			no_injected
		done
	done
	# the same through headers (curl cannot send a bare CR/LF in one; a
	# value with a CR inside reaches the program only through plain CGI)
	CGI_ENV=(CONTENT_TYPE=text/plain HTTP_AUTHORIZATION="Bearer $PL_PUB_TOKEN" $'HTTP_X_TYPE=a\r\nX-Injected: 1')
	pl_cgi_req publish POST "topic=$T" x
	pl_expect_error 400
	no_injected
	CGI_ENV=($'HTTP_LAST_EVENT_ID=1\r\nX-Injected: 1')
	pl_cgi_req poll GET "topic=$T"
	pl_expect_error 400
	no_injected
	pl_expect_nothing_stored "$T"
}

@test "admin ids: path tricks, signs, exponents, encodings are 404 and delete nothing; admin needs the admin token" {
	accepted=()
	# (0$id, a leading zero, names the same message: not a trick)
	for p in '$id/..' '../messages/$id' '../../admin/messages/$id' '$id%2F..%2F1' '$id;1' '$id%00' '+$id' \
		'-$id' '${id}e0' '0x$(printf %x "$id")' '$id.0' '%20$id' '$id%20' '99999999999999999999' '0' \
		'1%20OR%201=1' "\$id'--" '*' '%2e%2e/stats' '.%2e/messages/$id'; do
		pl_pub /hostile/adm "keep"
		id=$PUB_ID
		path=$(eval "echo \"$p\"")
		pl_admin DELETE "/push/admin/messages/$path" --path-as-is
		case $HTTP_STATUS in
		404|400) ;;   # 400: lighttpd refuses some (%00, ..) itself
		*) accepted+=("DELETE /push/admin/messages/$path -> $HTTP_STATUS") ;;
		esac
		pl_admin GET "/push/admin/messages/$id"
		[ "$HTTP_STATUS" = 200 ] || accepted+=("after DELETE /push/admin/messages/$path: message $id is gone")
	done
	# publish and subscriber tokens are no admin: valid, not allowed this
	pl_req DELETE "/push/admin/messages/$id" -H "Authorization: Bearer $PL_PUB_TOKEN"
	pl_expect_error 403
	pl_req DELETE "/push/admin/messages/$id" -H "Authorization: Bearer $ALICE"
	pl_expect_error 403
	pl_req DELETE "/push/admin/messages/$id?token=$ALICE"
	pl_expect_error 403
	pl_req GET "/push/admin/messages?topic=/"
	pl_expect_error 401
	pl_admin GET "/push/admin/messages/$id"
	pl_expect_status 200
	[ ${#accepted[@]} = 0 ] || pl_fail "not a plain positive integer, yet not 404 (docs/protocol.md, Admin): $(printf '\n  %s' "${accepted[@]}")"
}

@test "admin ids: a trailing slash (/push/admin/messages/ID/) is 404, as docs/protocol.md says of anything but a positive integer" {
	pl_pub /hostile/adm slash
	pl_admin DELETE "/push/admin/messages/$PUB_ID/"
	pl_expect_status 404
}

@test "secrets, tokens and refused credentials never reach the error log" {
	# a few refused attempts whose credentials a careless program would log
	pl_req POST "/push/publish?topic=/hostile/log" -H "Authorization: Bearer wrong-$PL_PUB_TOKEN" --data-binary x
	pl_expect_error 401
	pl_poll "topic=/iso&token=$(pl_make_token alice 9999999999 "$PL_SECRET-x")"
	pl_expect_error 401
	pl_poll "topic=/iso&token=$ALICE"
	pl_expect_status 200
	for f in "$PL_STATE/server.out" "$PL_STATE/lighttpd-error.log"; do
		[ -f "$f" ] || continue
		for s in "$PL_SECRET" "$PL_PUB_TOKEN" "$PL_ADMIN_TOKEN" "$PL_OPS_TOKEN" "${ALICE##*.}" "${BOB##*.}"; do
			! grep -qF -- "$s" "$f" || pl_fail "$(basename "$f") contains a secret: $(grep -F -- "$s" "$f" | head -1)"
		done
	done
}
