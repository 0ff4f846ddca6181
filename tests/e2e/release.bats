#!/usr/bin/env bats
# A held request whose client leaves is released promptly, so that dead
# clients neither fill the waiting cap nor cost work on every wake. Runs on
# the server PL_SERVER selects (lighttpd, apache, apache-proxy).
#
# lighttpd passes a client's FIN on to the program ("tcp-fin-propagate" in
# lighttpd-conf/), so the release there is immediate. Apache does not watch
# the client while a FastCGI program answers: it learns of one that left
# only when a write to it fails, that is at the second heartbeat (streams)
# or keep-alive blank (long polls) after the client left. The bounds below
# are chosen so that lighttpd passes only through the FIN.

load helper

# Heartbeats every 5 s: a release within 3 s cannot come from them.
setup_file() { pl_setup_server heartbeat=5 stream_max_time=300 longpoll_timeout=60; }
teardown_file() { pl_teardown_server; }

setup() { pl_need publish stream longpoll admin; }

# rl_bound KIND: seconds allowed from the client leaving to its release.
rl_bound() {
	if [ "$PL_SERVER" = lighttpd ]; then
		echo 3
	elif [ "$1" = stream ]; then
		echo 14   # two 5 s heartbeats, and slack
	else
		echo 10   # two 3 s long-poll blanks, and slack
	fi
}

# rl_hold_and_leave N PATH: N clients hold PATH, then all leave at once;
# fails unless stats count them while held and release them within the
# bound. RELEASE_MS is how long the release took.
rl_hold_and_leave() {  # rl_hold_and_leave N PATH...: N clients of each PATH (one kind), all at once
	local n=$1 kind=${2#/push/} i w0 t0 bound path
	shift
	kind=${kind%%\?*}
	bound=$(rl_bound "$kind")
	wait_for 10 waiting_le 0 || true
	w0=$(waiting_settled)
	[ -n "$w0" ] || pl_fail "no waiting count in stats"
	local pids=()
	for path in "$@"; do
		for i in $(seq 1 "$n"); do
			curl -sS -N -g --max-time 120 -o /dev/null "$PL_URL$path" 2>/dev/null 3>&- &
			pids+=($!)
		done
	done
	path="$*"
	n=$((n * $#))
	wait_for 15 waiting_ge $((w0 + n)) || {
		kill "${pids[@]}" 2>/dev/null
		pl_fail "waiting stayed $(waiting) with $n clients holding $path"
	}
	# Past any answer a server sends when it starts waiting.
	sleep 1
	kill "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
	t0=$(pl_now_ms)
	wait_for "$bound" waiting_le "$w0" ||
		pl_fail "waiting is $(waiting) ${bound} s after $n clients of $path left (was $w0 before)"
	RELEASE_MS=$(( $(pl_now_ms) - t0 ))
	echo "# $PL_SERVER: $n clients of $path released $RELEASE_MS ms after they left" >&3
}

@test "a stream is released promptly when its client leaves, in every format" {
	T=$(pl_topic)
	local paths=() fmt cb
	for fmt in sse ndjson js xml jsonp; do
		cb=
		[ "$fmt" = js ] || [ "$fmt" = jsonp ] && cb="&callback=onPush"
		paths+=("/push/stream?topic=$T&format=$fmt$cb")
	done
	rl_hold_and_leave 1 "${paths[@]}"
}

@test "fifty streams that leave together are all released" {
	T=$(pl_topic)
	rl_hold_and_leave 50 "/push/stream?topic=$T"
}

@test "a held long poll is released promptly when its client leaves" {
	T=$(pl_topic)
	rl_hold_and_leave 1 "/push/longpoll?topic=$T&timeout=60"
	rl_hold_and_leave 50 "/push/longpoll?topic=$T&timeout=60"
}

@test "streams still held after others left get the next message" {
	T=$(pl_topic)
	wait_for 10 waiting_le 0 || true
	w0=$(waiting_settled)
	out=$BATS_TEST_TMPDIR/kept
	curl -sS -N -g --max-time 20 -o "$out" "$PL_URL/push/stream?topic=$T&format=ndjson" 2>/dev/null 3>&- &
	kept=$!
	curl -sS -N -g --max-time 20 -o /dev/null "$PL_URL/push/stream?topic=$T&format=ndjson" 2>/dev/null 3>&- &
	gone=$!
	wait_for 10 waiting_ge $((w0 + 2)) || { kill "$kept" "$gone"; pl_fail "waiting stayed $(waiting)"; }
	kill "$gone"
	wait "$gone" 2>/dev/null || true
	wait_for "$(rl_bound stream)" waiting_le $((w0 + 1)) || { kill "$kept"; pl_fail "waiting is $(waiting)"; }
	pl_pub "$T" still-here
	wait_for 5 grep -q still-here "$out" || { kill "$kept"; cat "$out" >&2; pl_fail "the stream that stayed got nothing"; }
	kill "$kept" 2>/dev/null || true
	wait "$kept" 2>/dev/null || true
	[ "$(grep -c still-here "$out")" -eq 1 ]
}

@test "a client leaving is not logged by lighttpd as a program that died" {
	[ "$PL_SERVER" = lighttpd ] || skip "lighttpd's tcp-fin-propagate only"
	log=$PL_STATE/lighttpd-error.log
	[ -f "$log" ] || pl_fail "no $log"
	before=$(grep -c 'unexpected end-of-file' "$log" || true)
	T=$(pl_topic)
	rl_hold_and_leave 5 "/push/stream?topic=$T"
	rl_hold_and_leave 5 "/push/longpoll?topic=$T&timeout=60"
	after=$(grep -c 'unexpected end-of-file' "$log" || true)
	[ "$after" = "$before" ] || { tail -5 "$log" >&2; pl_fail "$((after - before)) 'unexpected end-of-file' lines for clients that left"; }
}

# rl_prog_pids PROG: the pids of the server's PROG programs.
rl_prog_pids() {
	local q
	for q in $(pgrep -g "$(pl_server_pid "$PL_STATE")"); do
		[ "$(readlink "/proc/$q/exe" 2>/dev/null)" = "$PL_BIN/$1" ] && echo "$q"
	done
	return 0
}

# rl_fds PID...: their open descriptors, one count per pid, space-separated.
rl_fds() {
	local p out=""
	for p in "$@"; do
		out="$out $(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
	done
	echo "${out# }"
}
rl_fds_are() {  # rl_fds_are WANT PID...
	local want=$1
	shift
	[ "$(rl_fds "$@")" = "$want" ]
}

# A process holds every long poll and stream for days: a descriptor kept per
# client that left (its FastCGI connection, a file) would end in EMFILE only
# after thousands, long after any other test. Behind lighttpd one process
# holds them all, so its count must return to what it was.
@test "the descriptors of held requests whose clients left are all given back" {
	[ "$PL_SERVER" = lighttpd ] || skip "one process per program holds every request only behind lighttpd"
	local T prog pids base round cl
	T=$(pl_topic)
	# Each program started, its database, watch and waiting file open.
	rl_hold_and_leave 1 "/push/longpoll?topic=$T&timeout=60"
	rl_hold_and_leave 1 "/push/stream?topic=$T"
	for prog in longpoll stream; do
		pids=$(rl_prog_pids "$prog")
		[ -n "$pids" ] || pl_fail "no $prog process found"
		# The count once it holds still for half a second.
		# shellcheck disable=SC2086 # a list of pids
		base=$(rl_fds $pids)
		# shellcheck disable=SC2086
		until sleep 0.5; [ "$(rl_fds $pids)" = "$base" ]; do base=$(rl_fds $pids); done
		for round in 1 2 3; do
			case $prog in
			longpoll) rl_hold_and_leave 40 "/push/longpoll?topic=$T&timeout=60" ;;
			stream) rl_hold_and_leave 40 "/push/stream?topic=$T&format=ndjson" ;;
			esac
			# And 40 that leave half a second in, while their
			# request may still be on its way to the program.
			cl=()
			for _ in $(seq 1 40); do
				curl -sS -N -g --max-time 0.5 -o /dev/null "$PL_URL/push/$prog?topic=$T&timeout=60" 2>/dev/null 3>&- &
				cl+=($!)
			done
			wait "${cl[@]}" 2>/dev/null || true
			wait_for 5 waiting_le 0 || pl_fail "waiting is $(waiting) after the clients of $prog left"
			[ "$(rl_prog_pids "$prog")" = "$pids" ] ||
				pl_fail "$prog processes were '$pids', are '$(rl_prog_pids "$prog")'"
			# shellcheck disable=SC2086
			wait_for 5 rl_fds_are "$base" $pids ||
				pl_fail "$prog (pid $pids) has $(rl_fds $pids) descriptors after round $round of 80 clients that left; $base before"
		done
		echo "# $prog: $base descriptors before and after 240 clients that left" >&3
	done
}
