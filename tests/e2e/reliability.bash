# tests/e2e/reliability.bash: helpers of the crash, contention, fault,
# limit and isolation tests. Load it after helper.bash:
#   load helper
#   load reliability

# rl_build_load: build tests/tools/pl-load.c (libcurl driver) once per file,
# into the file's temporary directory; sets RL_LOAD.
rl_build_load() {
	RL_LOAD=$BATS_FILE_TMPDIR/pl-load
	export RL_LOAD
	[ -x "$RL_LOAD" ] && return 0
	cc -O2 -Wall -o "$RL_LOAD" "$PL_ROOT/tests/tools/pl-load.c" -lcurl -ljson-c ||
		pl_fail "cannot build tests/tools/pl-load.c (needs libcurl and json-c headers)"
}

# rl_prog_pids PROGRAM: pids of the FastCGI processes of PROGRAM that the
# running server started.
rl_prog_pids() {
	local spid p exe
	spid=$(pl_server_pid "$PL_STATE") || return 0
	for p in $(pgrep -g "$spid" 2>/dev/null); do
		[ "$p" = "$spid" ] && continue
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		[ "$exe" = "$PL_BIN/$1" ] && pl_pid_alive "$p" && echo "$p"
	done
	return 0
}

# rl_crash_server: SIGKILL the web server and every program it started, all
# at once (as a power cut would, minus the kernel), then start it again on
# the same port and wait until it answers.
rl_crash_server() {
	local spid
	spid=$(pl_server_pid "$PL_STATE")
	[ -n "$spid" ] || pl_fail "no server pid" || return 1
	kill -KILL -- "-$spid" 2>/dev/null || true
	kill -KILL "$spid" 2>/dev/null || true
	rl_group_gone() { ! pl_group_alive "$1" && ! pl_pid_alive "$1"; }
	wait_for 10 rl_group_gone "$spid" || pl_fail "server group $spid still alive after SIGKILL" || return 1
	rm -f "$PL_STATE/server.pid"
	pl_server_start "$PL_SERVER" "$PL_STATE" || return 1
	pl_server_wait "$PL_SERVER" "$PL_STATE" "$PL_PORT" 20
}

# rl_restart_server: orderly stop and start on the same port.
rl_restart_server() {
	pl_server_stop "$PL_STATE"
	pl_server_start "$PL_SERVER" "$PL_STATE" || return 1
	pl_server_wait "$PL_SERVER" "$PL_STATE" "$PL_PORT" 20
}

# rl_dump_topic TOPIC OUT [CURL-ARGS]: every message under TOPIC that an
# admin sees, as "ID<TAB>DATA-AS-JSON" lines, paging with the cursor.
rl_dump_topic() {
	local topic=$1 out=$2 cursor=all more=true page n=0
	shift 2
	page=$BATS_TEST_TMPDIR/dump.page
	: >"$out"
	while [ "$more" = true ]; do
		(( ++n <= 10000 )) || pl_fail "rl_dump_topic: too many pages" || return 1
		curl -sS -g --max-time 30 -o "$page" -H "Authorization: Bearer $PL_ADMIN_TOKEN" "$@" \
			"$PL_URL/push/admin/messages?topic=$(pl_urlenc "$topic")&since=$cursor&limit=1000" ||
			return 1
		jq -r '.messages[] | "\(.id)\t\(.data|tojson)"' "$page" >>"$out" ||
			pl_fail "rl_dump_topic: bad page: $(head -c 500 "$page")" || return 1
		more=$(jq -r .more "$page")
		cursor=$(jq -r .cursor "$page")
	done
}

# rl_check_acked ACKFILE DUMPFILE: every "ok ID BODY" line of a pl-load
# publish output has its row in the dump (ID<TAB>"BODY"). Prints how many
# were checked; fails naming the first few missing or different.
rl_check_acked() {
	awk -F'\t' '
		NR == FNR { have[$1] = $2; next }
		$1 == "ok" {
			n++
			want = "\"" $3 "\""
			if (!($2 in have)) { if (miss++ < 5) print "missing: id " $2 " (" $3 ")" > "/dev/stderr" }
			else if (have[$2] != want) { if (diff++ < 5) print "different: id " $2 " has " have[$2] ", acknowledged " want > "/dev/stderr" }
		}
		END { print n + 0; if (miss || diff) { print miss + 0 " missing, " diff + 0 " different" > "/dev/stderr"; exit 1 } }
	' "$2" FS=' ' "$1"
}

# rl_integrity: PRAGMA integrity_check of the database says ok.
rl_integrity() {
	local r
	r=$(sqlite3 "$PL_DB" 'PRAGMA integrity_check' 2>&1)
	[ "$r" = ok ] || pl_fail "integrity_check: $r"
}

# rl_errlog_lines PATTERN: lines of the server's error log matching PATTERN
# (fixed string).
rl_errlog_lines() {
	local n
	n=$(cat "$PL_STATE/lighttpd-error.log" "$PL_STATE/apache-error.log" "$PL_STATE/server.out" 2>/dev/null |
		grep -cF -- "$1")
	echo "${n:-0}"
}

# rl_show_log: the server's last log lines naming the database, for a
# failure's message.
rl_show_log() {
	echo "# the server's last lines on $PL_DB:" >&2
	cat "$PL_STATE/lighttpd-error.log" "$PL_STATE/apache-error.log" "$PL_STATE/server.out" 2>/dev/null |
		grep -F -- "$PL_DB" | tail -15 >&2
}

# rl_note TEXT: a line for the test log (shown with bats --verbose-run or
# --show-output-of-passing-tests) and appended to $RL_FIGURES when set.
rl_note() {
	echo "# $*" >&3
	[ -n "${RL_FIGURES-}" ] && printf '%s: %s\n' "$(basename "$BATS_TEST_FILENAME" .bats)" "$*" >>"$RL_FIGURES"
	return 0
}

# rl_move_db DIR: the server's database moves to DIR/pushlite.db (a fresh
# one, made by pushlite init): config rewritten, server restarted. For
# faults that act on the database directory alone (a tmpfs, chattr).
rl_move_db() {
	local dir=$1
	mkdir -p "$dir"
	pl_server_stop "$PL_STATE"
	PL_DB=$dir/pushlite.db
	export PL_DB
	pl_write_test_conf "$PL_CONF" "$PL_DB" ${RL_CONF_KV[@]+"${RL_CONF_KV[@]}"}
	"$PL_TOOLS/pushlite" --conf "$PL_CONF" init >"$PL_STATE/init2.out" 2>&1 ||
		pl_fail "pushlite init in $dir: $(cat "$PL_STATE/init2.out")" || return 1
	# Apache runs the programs as www-data: the new database is theirs too.
	pl_state_owner "$PL_SERVER" "$dir"
	pl_server_start "$PL_SERVER" "$PL_STATE" || return 1
	pl_server_wait "$PL_SERVER" "$PL_STATE" "$PL_PORT" 20
}

# rl_pub_probe TOPIC DATA: one publish; sets HTTP_STATUS, BODY, HEADERS.
# Returns 0 for 201, 1 for 503 with Retry-After and a JSON error, and fails
# the test for anything else (5xx without Retry-After, 500, no answer).
rl_pub_probe() {
	pl_publish "topic=$1" -H 'Content-Type: text/plain' --data-binary "$2"
	case $HTTP_STATUS in
	201) return 0 ;;
	503)
		pl_expect_error 503 || return 2
		pl_hdr Retry-After >/dev/null || { pl_show; pl_fail "503 without Retry-After"; return 2; }
		return 1
		;;
	esac
	pl_show
	pl_fail "publish during a fault: status $HTTP_STATUS (want 201, or 503 with Retry-After and a JSON error)"
	return 2
}
