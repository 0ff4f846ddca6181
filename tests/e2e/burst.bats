#!/usr/bin/env bats
# A burst of first requests on a freshly started server: 600 polls, long
# polls and streams, 150 at a time, before any program process is running.
# Every one is answered 200, and the web server logs nothing at emergency
# level. Under mod_fcgid with its default lock, bursts like this made
# mod_fcgid fail to lock its process table ("Resource deadlock avoided") in
# 3 of 6 tries, and it then exits an Apache child: in one of 4 runs of this
# test the 64 requests that child held were never answered. The configs
# give mod_fcgid flock instead (apache-conf/pushlite.conf). One run of this
# test catches a return of the fault some of the time, not always.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

setup() { pl_need poll longpoll stream; }

@test "a burst of 600 first requests, 150 at a time: all answered 200, no emergency in the server's log" {
	D=$BATS_TEST_TMPDIR
	: >"$D/curl.cfg"
	for i in $(seq 1 600); do
		case $(( i % 3 )) in
		0) p="poll?topic=/burst&since=all" ;;
		1) p="longpoll?topic=/burst&since=now&timeout=1" ;;
		2) p="stream?topic=/burst&since=now&format=ndjson" ;;
		esac
		[ "$i" = 1 ] || printf 'next\n' >>"$D/curl.cfg"
		printf 'url = "%s/push/%s"\noutput = "%s/b%d"\nmax-time = 30\nwrite-out = "%%{http_code}\\n"\n' \
			"$PL_URL" "$p" "$D" "$i" >>"$D/curl.cfg"
	done
	curl -s --parallel --parallel-max 150 --config "$D/curl.cfg" >"$D/codes" 2>"$D/curl.err" || true
	n200=$(grep -c '^200$' "$D/codes" || true)
	sort "$D/codes" | uniq -c | awk '{ print "# " $1 " x " $2 }' >&3
	[ "$n200" = 600 ] || pl_fail "$n200 of 600 answered 200"
	log=
	for f in "$PL_STATE/apache-error.log" "$PL_STATE/lighttpd-error.log"; do
		[ -f "$f" ] && log=$f
	done
	[ -n "$log" ] || pl_fail "no error log in $PL_STATE"
	if grep -E ':emerg\]|\(emerg\)|can.t lock' "$log" >&2; then
		pl_fail "emergency in $log"
	fi
}
