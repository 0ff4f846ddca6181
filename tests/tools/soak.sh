#!/usr/bin/env bash
# tests/tools/soak.sh: drive a running pushlite server with a mixed load for a
# while and record, once a minute, what each pushlite process holds, so that
# slow leaks (memory, descriptors, threads, waiting counts, WAL growth, files
# left in the waiting directory, stray processes) show as a rising column.
# Not part of scripts/test: a useful run takes a quarter of an hour.
#
#   tests/tools/soak.sh STATE BASE-URL SECONDS OUTDIR
#
# STATE: the server's state directory (scripts/serve's PUSHLITE_STATE), for
# its config, database, tokens (STATE/dev-tokens) and server.pid. BASE-URL:
# http://127.0.0.1:PORT. The load runs SECONDS; then the script waits for the
# programs to settle (60 s), takes a last sample and measures the CPU the
# programs use while idle (10 s). For 429s the config should have a low
# max_waiting (e.g. "max_waiting = 30" in STATE/pushlite.local): the second
# half of the run sends bursts of 40 long polls.
# The load: publishes of every input form (text, JSON, form, NDJSON batch)
# and invalid ones (bad JSON, bad topic, 413, 415, wrong and missing
# tokens); polls as json, xml, jsonp, with a user token and If-None-Match;
# long polls that time out, that are woken, and whose clients leave after
# 0.5 s; streams as sse, ndjson and js, some left after 0.5 s; admin list,
# get, delete, stats; pushlite-purge --max-rows every 20 s.
# OUTDIR gets samples.txt (one line per process and one "global" line per
# sample: the first before the load starts, the last after it settled),
# codes.txt (status counts per kind of request), idle.txt (CPU ticks of each
# program over 10 s after the run) and purge.log.
# Reading it: behind lighttpd each program is one or two processes for the
# whole run, so a column of one pid is the thing to watch (RSS rises for a
# few minutes while SQLite's page cache fills, then holds). Under mod_fcgid
# a process holds one request at a time and processes come and go with the
# load; each long-poll and stream process also keeps one descriptor per
# other waiting process (pl_waiting.c), so compare descriptors with
# waitdir. The -wal file keeps its largest size (journal_size_limit is
# above the checkpoint's restart threshold, pl_group.c): it steps up with
# bursts, bounded by that threshold. Do not rebuild cgi-bin/ while a run
# uses it: programs started meanwhile fail or run the new build.
# Example (lighttpd; --apache for Apache):
#   mkdir -p run && echo 'max_waiting = 30' >run/pushlite.local
#   PORT=8080 PUSHLITE_STATE=run setsid scripts/serve >run.out 2>&1 &
#   tests/tools/soak.sh run http://127.0.0.1:8080 780 soak-out
set -u

state=$1 base=$2 run=$3 out=$4
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
: >"$out/samples.txt"
conf=$state/pushlite.conf
db=$state/pushlite.db
# shellcheck disable=SC1091
. "$state/dev-tokens"
pub=$PL_PUB adm=$PL_ADMIN
utok=$("$root/tools/pushlite" --conf "$conf" token --user alice --ttl 1d)
stop=$out/stop
rm -f "$stop"
codes=$out/codes.raw
: >"$codes"
big=$out/big.bin
head -c 1100000 /dev/zero | tr '\0' a >"$big"
t0=$(date +%s)
half=$((t0 + run / 2))

running() { [ ! -e "$stop" ]; }

# req LABEL CURL-ARGS...: one request, its status recorded under LABEL.
req() {
	local label=$1 c
	shift
	c=$(curl -s -o /dev/null -w '%{http_code}' "$@")
	echo "$label $c" >>"$codes"
}

publisher() {
	local i=0 H="Authorization: Bearer $pub" u="$base/push/publish"
	while running; do
		i=$((i + 1))
		req pub-text -H "$H" -H 'Content-Type: text/plain' --data-binary "text $i" "$u?topic=/soak/t"
		req pub-json -H "$H" -H 'Content-Type: application/json' -d "{\"n\":$i}" "$u?topic=/soak/j&type=notice"
		req pub-form -H "$H" -d "topic=/soak/f&data=form+$i&type=t&clients=pc,ios&ttl=1h" "$u"
		req pub-formtext -H "$H" -d "disk full $i" "$u?topic=/soak/f"
		req pub-user -H "$H" -d "for alice $i" "$u?topic=/soak/u&user=alice"
		req pub-ndjson -H "$H" -H 'Content-Type: application/x-ndjson' --data-binary \
			$'{"topic":"/soak/n","data":{"a":1}}\n{"topic":"/soak/n/x","data":"s","user":"alice"}\n{"topic":"/soak/n","data":[1,2],"clients":["pc"]}' "$u"
		req bad-json -H "$H" -H 'Content-Type: application/json' -d '{"n":' "$u?topic=/soak/j"
		req bad-topic -H "$H" -d "x" "$u?topic=/soak/../x"
		req bad-ndjson -H "$H" -H 'Content-Type: application/x-ndjson' --data-binary \
			$'{"topic":"/soak/n","data":1}\n{"topic":"bad"}' "$u"
		req bad-415 -H "$H" -H 'Content-Type: image/png' -d "x" "$u?topic=/soak/t"
		req bad-token -H 'Authorization: Bearer nope' -d "x" "$u?topic=/soak/t"
		req no-token -d "x" "$u?topic=/soak/t"
		if [ $((i % 10)) = 0 ]; then
			req bad-413 -H "$H" -H 'Content-Type: text/plain' --data-binary "@$big" "$u?topic=/soak/t"
		fi
	done
}

poller() {
	local p="$base/push/poll?topic=/soak" etag
	while running; do
		req poll-json "$p&since=10m&limit=50"
		req poll-gzip --compressed "$p&since=10m&limit=200"
		req poll-xml "$p&since=10m&format=xml&limit=50"
		req poll-jsonp "$p&since=10m&format=jsonp&callback=cb&limit=50"
		req poll-user "$p&since=10m&token=$utok&client=pc"
		req poll-userhdr -H "Authorization: Bearer $utok" "$p&since=all&limit=1000"
		req poll-badtok "$p&since=10m&token=v1.alice.1.xxx"
		req poll-badlimit "$p&limit=0"
		etag=$(curl -s -D - -o /dev/null "$base/push/poll?topic=/soak/none&since=now" |
			tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
		req poll-304 -H "If-None-Match: $etag" "$base/push/poll?topic=/soak/none&since=now"
		sleep 0.2
	done
}

# Long polls on a topic nobody publishes to: each one times out.
lp_timeout() {
	while running; do
		req lp-timeout --max-time 10 "$base/push/longpoll?topic=/quiet&timeout=$((RANDOM % 3 + 1))"
	done
}

# Long polls woken by waker below (or timing out after 15 s).
lp_woken() {
	while running; do
		req lp-woken --max-time 20 "$base/push/longpoll?topic=/soak/wake&timeout=15&token=$utok"
		req lp-woken-gzip --compressed --max-time 20 "$base/push/longpoll?topic=/soak/wake&timeout=15&format=xml"
	done
}
waker() {
	while running; do
		sleep 2
		req pub-wake -H "Authorization: Bearer $pub" -d "wake" "$base/push/publish?topic=/soak/wake/x"
	done
}

# Clients that leave while held.
leaver() {
	local f fmts=(sse ndjson js)
	while running; do
		req lp-leave --max-time 0.5 "$base/push/longpoll?topic=/quiet&timeout=30"
		f=${fmts[RANDOM % 3]}
		req "st-leave-$f" --max-time 0.5 "$base/push/stream?topic=/quiet&format=$f"
		sleep 0.1
	done
}

# Streams that receive the publishes for a few seconds, then leave.
streamer() {
	local f fmts=(sse ndjson js)
	while running; do
		f=${fmts[RANDOM % 3]}
		req "st-$f" --max-time $((RANDOM % 6 + 2)) "$base/push/stream?topic=/soak&format=$f&token=$utok&client=pc"
	done
}

# Second half: bursts of 40 long polls, for the waiting cap's 429.
burster() {
	while running && [ "$(date +%s)" -lt "$half" ]; do sleep 1; done
	while running; do
		for _ in $(seq 1 40); do
			req lp-burst --max-time 10 "$base/push/longpoll?topic=/quiet&timeout=2" &
		done
		wait
		sleep 8
	done
}

admin() {
	local H="Authorization: Bearer $adm" a="$base/push/admin" id
	while running; do
		req adm-list -H "$H" "$a/messages?topic=/&limit=20"
		req adm-list-user -H "$H" "$a/messages?topic=/soak&user=alice&limit=20"
		id=$(curl -s -H "$H" "$a/stats" | sed -n 's/.*"newest_id":\([0-9]*\).*/\1/p')
		req adm-stats -H "$H" "$a/stats"
		if [ -n "$id" ]; then
			req adm-get -H "$H" "$a/messages/$id"
			req adm-delete -X DELETE -H "$H" "$a/messages/$id"
			req adm-delete2 -X DELETE -H "$H" "$a/messages/$id"
		fi
		req adm-badtok -H "Authorization: Bearer $pub" "$a/stats"
		req adm-404 -H "$H" "$base/push/nothing"
		req health "$base/push/health"
		sleep 1
	done
}

purger() {
	while running; do
		if PUSHLITE_CONF=$conf "$root/tools/pushlite-purge" --max-rows 2000 --quiet \
			>>"$out/purge.log" 2>&1; then
			echo "purge 0" >>"$codes"
		else
			echo "purge $?" >>"$codes"
		fi
		sleep 20
	done
}

# The pushlite programs: descendants of the server whose executable is one
# of ours, printed as "PID NAME".
programs() {
	local spid
	spid=$(cat "$state/server.pid")
	# By name: Apache run as root may run a copy of cgi-bin/.
	ps -e -o pid=,ppid=,stat=,args= | awk -v top="$spid" '
		{ par[$1] = $2; st[$1] = $3; cmd[$1] = $4 }
		END {
			for (p in par) {
				q = p; anc = 0
				for (n = 0; n < 8 && q > 1; n++) { if (q == top) { anc = 1; break }; q = par[q] }
				name = cmd[p]; sub(".*/", "", name)
				if (anc && name ~ /^(publish|poll|longpoll|stream|admin)$/) print p, name
			}
		}' | sort -n
}

# Zombies among the server's descendants.
zombies() {
	local spid
	spid=$(cat "$state/server.pid")
	ps -e -o pid=,ppid=,stat= | awk -v top="$spid" '
		{ par[$1] = $2; st[$1] = $3 }
		END {
			z = 0
			for (p in par) {
				q = p; anc = 0
				for (n = 0; n < 8 && q > 1; n++) { if (q == top) { anc = 1; break }; q = par[q] }
				if (anc && st[p] ~ /^Z/) z++
			}
			print z
		}'
}

# Descriptors of the web server itself (all its processes that are not ours).
server_fds() {
	local spid total=0 p n
	spid=$(cat "$state/server.pid")
	for p in $spid $(ps -o pid= --ppid "$spid"); do
		case $(readlink "/proc/$p/exe" 2>/dev/null) in
		*lighttpd*|*apache2*|*httpd*) ;;
		*) continue ;;
		esac
		n=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		total=$((total + n))
	done
	echo "$total"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

sample() {
	local t pid tag=${1-} name rss hwm thr fds wal wdir waiting nprocs=0
	t=$(( $(date +%s) - t0 ))$tag
	while read -r pid name; do
		[ -n "$pid" ] || continue
		rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
		hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
		thr=$(awk '$1 == "Threads:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
		fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		echo "t=$t proc pid=$pid prog=$name rss=${rss:-0} hwm=${hwm:-0} fds=$fds thr=${thr:-0} cpu=$(cpu_ticks "$pid")"
		nprocs=$((nprocs + 1))
	done < <(programs) >>"$out/samples.txt"
	wal=$(stat -c %s "$db-wal" 2>/dev/null || echo 0)
	wdir=$(find "$db.waiting" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	waiting=$(curl -s -H "Authorization: Bearer $adm" "$base/push/admin/stats" |
		sed -n 's/.*"waiting":\([0-9]*\).*/\1/p')
	echo "t=$t global procs=$nprocs wal=$wal waitdir=$wdir waiting=${waiting:-?} zombies=$(zombies) srvfds=$(server_fds) tmp=$(find "$state/tmp" -mindepth 1 2>/dev/null | wc -l) statefiles=$(find "$state" -maxdepth 1 | wc -l)" >>"$out/samples.txt"
}

# The idle baseline, before any load.
sample -idle
pids=()
publisher & pids+=($!)
poller & pids+=($!)
for _ in 1 2 3; do lp_timeout & pids+=($!); done
for _ in 1 2 3; do lp_woken & pids+=($!); done
waker & pids+=($!)
leaver & pids+=($!)
leaver & pids+=($!)
streamer & pids+=($!)
streamer & pids+=($!)
burster & pids+=($!)
admin & pids+=($!)
purger & pids+=($!)

sample
while [ $(( $(date +%s) - t0 )) -lt "$run" ]; do
	sleep 60
	sample
done
touch "$stop"
wait "${pids[@]}"
echo "load stopped at $(( $(date +%s) - t0 )) s; settling" >&2
sleep 60
sample -settled
# Idle CPU: ticks (1/100 s) each program used over 10 s with nothing to do.
declare -A before
while read -r pid name; do before[$pid]=$(cpu_ticks "$pid"); done < <(programs)
sleep 10
while read -r pid name; do
	echo "idle pid=$pid prog=$name ticks_10s=$(( $(cpu_ticks "$pid") - ${before[$pid]:-0} ))"
done < <(programs) >"$out/idle.txt"
awk '{ n[$1 " " $2]++ } END { for (k in n) print k, n[k] }' "$codes" | sort >"$out/codes.txt"
rm -f "$big"
cat "$out/idle.txt"
