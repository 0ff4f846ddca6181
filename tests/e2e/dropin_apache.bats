#!/usr/bin/env bats
# docs/deploy.md 4b and 4c: the shipped Apache drop-ins,
# apache-conf/pushlite.conf (mod_fcgid) and apache-conf/pushlite-proxy-fcgi.conf
# (mod_proxy_fcgi, programs started by spawn-fcgi), installed as the steps
# of docs/deploy.md install them on Debian 12: into conf-available of a
# server root laid out as the apache2 package lays out /etc/apache2 (its
# apache2.conf, envvars, mods-/conf-/sites-available and -enabled, Debian's
# default modules, confs and site), enabled with a2enconf, the modules
# with the a2enmod line of the docs. Only the files' Define lines of paths
# are changed. The other suites run the development config
# (apache-conf/dev.conf.in); this one checks the files operators install:
# that they load, that pushlite works through them, and that the site the
# server already serves answers exactly as it did before the drop-in was
# enabled.

load helper

# The Debian 12 defaults: the modules, confs and site the apache2 package
# enables when it is installed.
DA_DEBIAN_MODS="access_compat alias auth_basic authn_core authn_file authz_core
	authz_host authz_user autoindex deflate dir env filter mime mpm_event
	negotiation reqtimeout setenvif status"
DA_DEBIAN_CONFS="charset localized-error-pages other-vhosts-access-log security serve-cgi-bin"
DA_KINDS=${DA_KINDS:-fcgid proxy}

# da_doc_line SECTION REGEX: the first line matching REGEX in the section
# of docs/deploy.md whose heading starts with "## SECTION".
da_doc_line() {
	awk -v s="## $1" -v re="$2" '
		index($0, s) == 1 { on = 1; next }
		on && /^## / { exit }
		on && $0 ~ re { print; exit }' "$PL_ROOT/docs/deploy.md"
}

# da_file KIND: the shipped file of KIND; da_doc KIND: its section.
da_file() { case $1 in fcgid) echo pushlite.conf ;; proxy) echo pushlite-proxy-fcgi.conf ;; esac; }
da_doc() { case $1 in fcgid) echo 4b ;; proxy) echo 4c ;; esac; }

# da_a2 KIND CMD ARGS...: a2enmod, a2enconf or a2ensite on KIND's server
# root instead of /etc/apache2 (and its state instead of /var/lib/apache2).
da_a2() {
	local d=$PL_STATE/$1
	shift
	APACHE_CONFDIR=$d/apache2 APACHE_STATE_DIRECTORY=$d/lib "$@" >>"$d/a2.out" 2>&1 || {
		cat "$d/a2.out" >&2
		pl_fail "$* failed"
	}
}

# da_root KIND PORT: the server root of KIND in $PL_STATE/KIND/apache2, as
# Debian's apache2 package leaves /etc/apache2, serving the other site.
da_root() {
	local kind=$1 port=$2 d=$PL_STATE/$1 etc u g
	etc=$d/apache2
	mkdir -p "$d/run" "$d/lock" "$d/log" "$d/lib/fcgid" \
		"$etc"/{mods,conf,sites}-{available,enabled}
	cp /etc/apache2/apache2.conf "$etc/"
	cp -R /etc/apache2/mods-available/. "$etc/mods-available/"
	cp -R /etc/apache2/conf-available/. "$etc/conf-available/"
	u=www-data g=www-data
	[ "$(id -u)" = 0 ] || { u=$(id -un); g=$(id -gn); }
	# The package's envvars with this root's run, lock and log directories.
	cat >"$etc/envvars" <<ENV
export APACHE_RUN_USER=$u
export APACHE_RUN_GROUP=$g
export APACHE_PID_FILE=$d/run/apache2.pid
export APACHE_RUN_DIR=$d/run
export APACHE_LOCK_DIR=$d/lock
export APACHE_LOG_DIR=$d/log
export LANG=C
ENV
	echo "Listen 127.0.0.1:$port" >"$etc/ports.conf"
	# mod_fcgid's sockets and process table: the package's defaults are
	# in /var/lib/apache2/fcgid, the system server's.
	cat >"$etc/conf-available/zz-private-paths.conf" <<CONF
<IfModule mod_fcgid.c>
	FcgidIPCDir $d/lib/fcgid/sock
	FcgidProcessTableFile $d/lib/fcgid/shm
</IfModule>
CONF
	# The other site: static files, a directory it protects with a
	# login of its own.
	cat >"$etc/sites-available/000-default.conf" <<CONF
<VirtualHost *:$port>
	ServerAdmin webmaster@localhost
	DocumentRoot $PL_STATE/site
	<Directory $PL_STATE/site>
		Options FollowSymLinks
		Require all granted
	</Directory>
	<Directory $PL_STATE/site/private>
		AuthType Basic
		AuthName "site"
		AuthBasicProvider file
		AuthUserFile $PL_STATE/site.htpasswd
		Require valid-user
	</Directory>
	ErrorLog \${APACHE_LOG_DIR}/error.log
	CustomLog \${APACHE_LOG_DIR}/access.log combined
</VirtualHost>
CONF
	# shellcheck disable=SC2086 # lists of names
	da_a2 "$kind" a2enmod -q $DA_DEBIAN_MODS || return 1
	# shellcheck disable=SC2086
	da_a2 "$kind" a2enconf -q $DA_DEBIAN_CONFS zz-private-paths || return 1
	da_a2 "$kind" a2ensite -q 000-default || return 1
	# What pl_server_start runs: apache2 -f STATE/apache.conf.
	printf 'ServerRoot "%s"\nInclude apache2.conf\n' "$etc" >"$d/apache.conf"
}

# da_install KIND: docs/deploy.md's steps for KIND: its a2enmod line, the
# file copied into conf-available with its path Defines set to this test's
# places. Not enabled yet.
da_install() {
	local kind=$1 d=$PL_STATE/$1 line mods file
	file=$(da_file "$kind")
	line=$(da_doc_line "$(da_doc "$kind")" '^a2enmod ')
	[ -n "$line" ] || pl_fail "no a2enmod line in docs/deploy.md $(da_doc "$kind")" || return 1
	mods=${line#a2enmod }
	# shellcheck disable=SC2086
	da_a2 "$kind" a2enmod -q $mods || return 1
	sed -e "s|^Define PUSHLITE_BIN .*|Define PUSHLITE_BIN $PL_STATE/libexec/pushlite|" \
		-e "s|^Define PUSHLITE_CONF .*|Define PUSHLITE_CONF $d/pushlite.conf|" \
		-e "s|^Define PUSHLITE_RUN .*|Define PUSHLITE_RUN $(pl_sock_dir "$d")|" \
		-e "s|^Define PUSHLITE_ERRORS .*|Define PUSHLITE_ERRORS $PL_STATE/share/pushlite/errors|" \
		"${DA_FILE_SRC:-$PL_ROOT/apache-conf}/$file" >"$d/apache2/conf-available/$file"
}

# da_backends KIND: for mod_proxy_fcgi, STATE/KIND/backends.sh starts each
# program with the ExecStart line of the systemd unit of docs/deploy.md 4c
# (its %i, socket directory and program directory put in), in the
# environment the unit gives it, then runs Apache (pl_server_start).
da_backends() {
	local d=$PL_STATE/$1 exec env sock p
	exec=$(da_doc_line 4c '^ExecStart=')
	env=$(da_doc_line 4c '^Environment=PUSHLITE_CONF=')
	[ -n "$exec" ] && [ -n "$env" ] || pl_fail "no ExecStart= or Environment= in docs/deploy.md 4c" || return 1
	exec=${exec#ExecStart=}
	sock=$(pl_sock_dir "$d")
	exec=${exec//\/run\/pushlite/$sock}
	exec=${exec//\/usr\/local\/libexec\/pushlite/$PL_STATE/libexec/pushlite}
	# The user switch needs root; a user other than root runs them as
	# itself.
	[ "$(id -u)" = 0 ] || exec=$(printf '%s' "$exec" | sed -e 's/ -[UGug] [^ ]*//g')
	printf '%s\n' "$exec" >"$PL_STATE/$1/exec.line"
	{
		echo "export PUSHLITE_CONF='$d/pushlite.conf'"
		echo "pids=''"
		for p in $PL_PROGRAMS; do
			echo "${exec//%i/$p} &"
			echo "pids=\"\$pids \$!\""
			echo "echo \$! >'$d/$p.pid'"
		done
		cat <<WAIT
t=50
for s in $PL_PROGRAMS; do
	while [ ! -S "$sock/\$s.sock" ] && [ "\$t" -gt 0 ]; do sleep 0.1; t=\$((t - 1)); done
done
"\$@" &
server=\$!
trap 'kill -TERM \$server \$pids 2>/dev/null' TERM INT HUP
wait "\$server"
kill -TERM \$server \$pids 2>/dev/null
wait
WAIT
	} >"$d/backends.sh"
	[ "${env#Environment=PUSHLITE_CONF=}" = /etc/pushlite.conf ] ||
		pl_fail "docs/deploy.md 4c: the unit's $env is not /etc/pushlite.conf"
}

# da_start KIND: start KIND's server (Apache with the environment of its
# envvars; for proxy, the programs first) and wait until PATH answers.
da_start() {
	local kind=$1 path=${2:-/push/health} d=$PL_STATE/$1 server=apache
	[ "$kind" = proxy ] && server=apache-proxy
	pl_state_owner "$server" "$d"
	(
		# shellcheck disable=SC1091
		. "$d/apache2/envvars"
		pl_server_start "$server" "$d"
	) || return 1
	pl_server_wait "$server" "$d" "$(cat "$d/port")" 20 "$path"
}

da_stop() { pl_server_stop "$PL_STATE/$1"; }

# da_activate KIND: the last step of docs/deploy.md for KIND,
# `apache2ctl configtest && systemctl reload apache2` (apachectl graceful:
# SIGUSR1 to the parent), or `... restart apache2` (Debian's unit stops
# the server and starts a new one).
da_activate() {
	local d=$PL_STATE/$1 line
	line=$(da_doc_line "$(da_doc "$1")" '^apache2ctl configtest')
	(
		# shellcheck disable=SC1091
		. "$d/apache2/envvars"
		"$(pl_apache_bin)" -t -f "$d/apache.conf"
	) >"$d/configtest.out" 2>&1 || {
		cat "$d/configtest.out" >&2
		pl_fail "$1: apache2ctl configtest fails"
		return 1
	}
	case $line in
	*"systemctl reload apache2"*) kill -USR1 "$(cat "$d/run/apache2.pid")" ;;
	*"systemctl restart apache2"*) da_stop "$1" && da_start "$1" / ;;
	*) pl_fail "docs/deploy.md $(da_doc "$1"): no configtest and reload or restart line" ;;
	esac
}

# da_answers SECONDS URL: URL answers 2xx before the deadline (a server
# that accepts and never answers costs each try its --max-time).
da_answers() {
	local end=$((SECONDS + $1))
	until curl -fs --max-time 2 -o /dev/null "$2"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# da_restart_programs KIND: for 4c, `systemctl restart 'pushlite@*'`: each
# program stopped and started again by the unit's line.
da_restart_programs() {
	local d=$PL_STATE/$1 p pid
	for p in $PL_PROGRAMS; do
		pid=$(cat "$d/$p.pid")
		# (one may be down already: the test before kills poll)
		! pl_pid_alive "$pid" || kill -TERM "$pid"
		wait_for 10 eval '! pl_pid_alive '"$pid" || pl_fail "$1: $p did not stop" || return 1
		# shellcheck disable=SC2046 # the unit's command line, split
		(
			export PUSHLITE_CONF=$d/pushlite.conf
			cd / && exec $(sed -e "s|%i|$p|g" "$d/exec.line")
		) </dev/null >>"$d/programs.out" 2>&1 3>&- &
		echo $! >"$d/$p.pid"
		# spawn-fcgi -n binds the socket, then becomes the program.
		wait_for 10 da_is_prog "$!" "$p" || pl_fail "$1: $p did not start again" || return 1
	done
}

da_is_prog() {
	[ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$PL_STATE/libexec/pushlite/$2" ]
}

# da_push_off: a long poll is refused at once.
da_push_off() {
	[ "$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' "$PL_URL/push/longpoll?topic=/off&timeout=2")" = 503 ]
}

# da_use KIND: the helpers' requests go to KIND's server.
da_use() {
	PL_PORT=$(cat "$PL_STATE/$1/port")
	PL_URL=http://127.0.0.1:$PL_PORT
	PL_CONF=$PL_STATE/$1/pushlite.conf
	PL_DB=$PL_STATE/$1/pushlite.db
}

# da_site: what the other site answers to a set of requests, one block per
# request: status line and headers (no Date, Keep-Alive) and a digest of
# the body.
da_site() {
	local big=$PL_STATE/big r etag name args
	r=$PL_STATE/site-req
	etag=$(curl -s -D - -o /dev/null "$PL_URL/index.html" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
	while IFS='|' read -r name args; do
		rm -f "$r.h" "$r.b"
		touch "$r.h" "$r.b"
		eval "curl -s -g --max-time 10 -D '$r.h' -o '$r.b' $args" || true
		echo "== $name"
		tr -d '\r' <"$r.h" | while IFS= read -r h; do
			case $h in
			[Dd]ate:* | [Kk]eep-[Aa]live:*) ;;
			# Apache lists the methods in no fixed order.
			[Aa]llow:*) echo "Allow: $(echo "${h#*: }" | tr ',' '\n' | sort | paste -sd,)" ;;
			*) echo "$h" ;;
			esac
		done
		echo "body $(md5sum <"$r.b" | cut -c1-32)"
	done <<REQ
index|'$PL_URL/'
index gzip|-H 'Accept-Encoding: gzip' '$PL_URL/index.html'
json gzip|-H 'Accept-Encoding: gzip' '$PL_URL/data.json'
text gzip|-H 'Accept-Encoding: gzip' '$PL_URL/notes.txt'
conditional|-H 'If-None-Match: $etag' '$PL_URL/index.html'
conditional gzip|-H 'Accept-Encoding: gzip' -H 'If-None-Match: ${etag%\"}-gzip\"' '$PL_URL/index.html'
range|-H 'Range: bytes=0-3' '$PL_URL/data.json'
missing|'$PL_URL/no-such-file'
private, no login|'$PL_URL/private/secret.txt'
private, login|-u carol:carol-pw '$PL_URL/private/secret.txt'
post 3 MB|-H 'Content-Type: application/octet-stream' --data-binary @'$big' '$PL_URL/index.html'
gzip transfer coding|-H 'Transfer-Encoding: gzip, chunked' --data-binary x '$PL_URL/index.html'
options|-X OPTIONS '$PL_URL/index.html'
REQ
}

setup_file() {
	command -v apache2 >/dev/null 2>&1 || skip "apache2 is not installed"
	if [ ! -f /etc/apache2/apache2.conf ] || ! command -v a2enmod >/dev/null 2>&1; then
		skip "not Debian's apache2 layout (/etc/apache2, a2enmod)"
	fi
	local m kind
	for m in mod_fcgid mod_proxy_fcgi mod_deflate mod_headers mod_rewrite; do
		[ -f "$(pl_apache_moddir)/$m.so" ] || skip "$m is not installed"
	done
	command -v spawn-fcgi >/dev/null 2>&1 || skip "spawn-fcgi is not installed"
	command -v htpasswd >/dev/null 2>&1 || skip "htpasswd (apache2-utils) is not installed"
	PL_STATE=$(mktemp -d "${TMPDIR:-/tmp}/pushlite-e2e.XXXXXX")
	chmod 755 "$PL_STATE"
	export PL_STATE
	# The programs and error bodies where `make install` puts them, under
	# this directory (the Defines point there).
	mkdir -p "$PL_STATE/libexec/pushlite" "$PL_STATE/share/pushlite"
	for m in $PL_PROGRAMS; do
		cp "$PL_BIN/$m" "$PL_STATE/libexec/pushlite/$m"
	done
	cp -R "$PL_ROOT/errors" "$PL_STATE/share/pushlite/errors"
	# The other site.
	mkdir -p "$PL_STATE/site/private"
	{ echo '<html><body>'; seq -f '<p>line %g of the site</p>' 1 100; echo '</body></html>'; } >"$PL_STATE/site/index.html"
	seq 1 400 | jq -cs '{site: .}' >"$PL_STATE/site/data.json"
	seq 1 400 >"$PL_STATE/site/notes.txt"
	echo secret >"$PL_STATE/site/private/secret.txt"
	# Files changed in the last second get weak ETags from Apache: older.
	find "$PL_STATE/site" -exec touch -d '2026-01-01 12:00' {} +
	htpasswd -cbm "$PL_STATE/site.htpasswd" carol carol-pw >/dev/null 2>&1
	head -c 3000000 /dev/zero >"$PL_STATE/big"
	for kind in $DA_KINDS; do
		mkdir -p "$PL_STATE/$kind"
		pl_write_test_conf "$PL_STATE/$kind/pushlite.conf" "$PL_STATE/$kind/pushlite.db" \
			stream_max_time=30 heartbeat=15 longpoll_timeout=20
		"$PL_TOOLS/pushlite" --conf "$PL_STATE/$kind/pushlite.conf" init >/dev/null
		pl_free_port >"$PL_STATE/$kind/port"
		da_root "$kind" "$(cat "$PL_STATE/$kind/port")"
		# For 4c the programs run first (the unit of docs/deploy.md).
		[ "$kind" = proxy ] && da_backends "$kind"
		# The host before pushlite: the site as it answers then.
		da_start "$kind" / || return 1
		da_use "$kind"
		da_site >"$PL_STATE/$kind/site.before"
		# docs/deploy.md: a2enmod, cp, a2enconf, configtest, reload.
		da_install "$kind"
		da_a2 "$kind" a2enconf -q "$(basename "$(da_file "$kind")" .conf)"
		da_activate "$kind" || return 1
		da_answers 20 "$PL_URL/push/health" || {
			tail -n 20 "$PL_STATE/$kind/log/error.log" >&2
			pl_fail "$kind: /push/health does not answer 200 after docs/deploy.md's steps"
			return 1
		}
	done
}

teardown_file() {
	local kind f
	[ -n "${PL_STATE-}" ] || return 0
	for kind in $DA_KINDS; do
		pl_server_stop "$PL_STATE/$kind"
		# programs restarted by a test (da_restart_programs)
		for f in "$PL_STATE/$kind"/*.pid; do
			if [ -f "$f" ] && pl_pid_alive "$(cat "$f")"; then
				kill -TERM "$(cat "$f")" || true
			fi
		done
	done
	if [ "${PL_KEEP-}" = 1 ]; then
		echo "# state kept in $PL_STATE" >&3
	else
		rm -rf "$PL_STATE"
	fi
}

@test "docs/deploy.md and each file's own install lines name the same modules" {
	local kind doc own
	for kind in $DA_KINDS; do
		doc=$(da_doc_line "$(da_doc "$kind")" '^a2enmod ')
		own=$(grep -o 'a2enmod [a-z_ ]*' "$PL_ROOT/apache-conf/$(da_file "$kind")" | head -n 1 | sed -e 's/ *$//')
		[ "$doc" = "$own" ] || pl_fail "$(da_file "$kind") says '$own', docs/deploy.md $(da_doc "$kind") says '$doc'"
	done
}

@test "each drop-in: health, publish, poll, admin and the JSON 404 through Apache" {
	local kind
	for kind in $DA_KINDS; do
		da_use "$kind"
		pl_get /push/health
		pl_expect_status 200 || pl_fail "$kind: health"
		T=$(pl_topic "/$kind")
		pl_pub "$T" "through the $kind drop-in" || pl_fail "$kind: publish"
		pl_poll "topic=$T&since=all"
		pl_jq_true --argjson id "$PUB_ID" '[.messages[].id] == [$id]' || pl_fail "$kind: poll"
		pl_admin GET /push/admin/stats
		pl_expect_status 200 || pl_fail "$kind: admin stats"
		pl_admin GET "/push/admin/messages/$PUB_ID"
		pl_expect_status 200 || pl_fail "$kind: admin message (PATH_INFO)"
		pl_jq_true --argjson id "$PUB_ID" '.id == $id' || pl_fail "$kind: admin message"
		pl_get /push/admin/stats
		pl_expect_error 401 || pl_fail "$kind: admin without a token"
		pl_get /push/nothing-here
		pl_expect_error 404 || pl_fail "$kind: another path under /push/"
		head -c 3000000 /dev/zero >"$BATS_TEST_TMPDIR/big"
		pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary @"$BATS_TEST_TMPDIR/big"
		pl_expect_error 413 || pl_fail "$kind: a 3 MB publish"
	done
}

@test "each drop-in: a held long poll is answered within a second of a publish" {
	local kind t0 ms out
	for kind in $DA_KINDS; do
		da_use "$kind"
		T=$(pl_topic "/$kind")
		for enc in plain gzip; do
			out=$BATS_TEST_TMPDIR/lp.$kind.$enc
			args=()
			[ "$enc" = gzip ] && args=(--compressed)
			curl -sS -N --max-time 15 "${args[@]}" -o "$out" -w '%{http_code}' \
				"$PL_URL/push/longpoll?topic=$T&timeout=12" >"$out.status" 2>"$out.err" 3>&- &
			lp=$!
			wait_for 10 waiting_ge 1 || pl_fail "$kind: the long poll is not held"
			t0=$(pl_now_ms)
			pl_pub "$T" "wake $enc"
			wait "$lp" || pl_fail "$kind $enc: curl failed: $(cat "$out.err")"
			ms=$(( $(pl_now_ms) - t0 ))
			[ "$(cat "$out.status")" = 200 ] || pl_fail "$kind $enc: status $(cat "$out.status")"
			jq_true --argjson id "$PUB_ID" '[.messages[].id] == [$id]' "$out" >/dev/null ||
				pl_fail "$kind $enc: answer $(cat "$out")"
			[ "$ms" -lt 1000 ] || pl_fail "$kind $enc: the long poll ended $ms ms after the publish"
			wait_for 5 waiting_le 0 || true
		done
	done
}

@test "each drop-in: a stream event reaches the client at once, also when it accepts gzip" {
	local kind fmt out id t0 ms
	for kind in $DA_KINDS; do
		da_use "$kind"
		for fmt in sse js ndjson; do
			T=$(pl_topic "/$kind/$fmt")
			out=$BATS_TEST_TMPDIR/st.$kind.$fmt
			curl -sS -N --max-time 20 -H 'Accept-Encoding: gzip' -D "$out.h" -o "$out" \
				"$PL_URL/push/stream?topic=$T&format=$fmt" 2>"$out.err" 3>&- &
			st=$!
			wait_for 5 test -s "$out.h" || pl_fail "$kind $fmt: no head within 5 s"
			pl_pub "$T" "event-$fmt-$kind"
			id=$PUB_ID
			t0=$(pl_now_ms)
			wait_for 2 grep -q "event-$fmt-$kind" "$out" ||
				pl_fail "$kind $fmt: the event was not there 2 s after its publish"
			ms=$(( $(pl_now_ms) - t0 ))
			kill "$st" 2>/dev/null
			wait "$st" 2>/dev/null || true
			[ "$ms" -lt 1000 ] || pl_fail "$kind $fmt: the event arrived $ms ms after its publish"
			# shellcheck disable=SC2034 # read by pl_hdr
			HEADERS=$out.h
			! pl_hdr Content-Encoding >/dev/null || pl_fail "$kind $fmt: the stream is compressed ($(pl_hdr Content-Encoding))"
			grep -q "$id" "$out" || pl_fail "$kind $fmt: no id $id"
		done
	done
}

@test "the other site answers as it did before the drop-in was enabled" {
	local kind
	for kind in $DA_KINDS; do
		da_use "$kind"
		da_site >"$PL_STATE/$kind/site.after"
		diff -u "$PL_STATE/$kind/site.before" "$PL_STATE/$kind/site.after" >&2 ||
			pl_fail "$kind: the drop-in changed what the other site answers"
	done
}

# da_prog_pids KIND PROGRAM: the processes of PROGRAM under KIND's server.
da_prog_pids() {
	local spid p exe bin=$PL_STATE/libexec/pushlite/$2
	spid=$(pl_server_pid "$PL_STATE/$1") || return 0
	for p in $(pgrep -g "$spid" 2>/dev/null); do
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		case $exe in
		"$bin" | "$bin (deleted)") echo "$p" ;;
		esac
	done
	if [ -f "$PL_STATE/$1/$2.pid" ]; then
		p=$(cat "$PL_STATE/$1/$2.pid")
		pl_pid_alive "$p" && echo "$p"
	fi
	return 0
}

@test "each drop-in: a program that cannot answer gets Apache's error with the JSON body of errors/" {
	local kind bin=$PL_STATE/libexec/pushlite pids
	for kind in $DA_KINDS; do
		da_use "$kind"
		pl_poll "topic=/down"
		pl_expect_status 200 || pl_fail "$kind: poll before"
		if [ "$kind" = fcgid ]; then
			# mod_fcgid restarts a killed program at once: one that
			# exits before it answers stands for one that cannot.
			cp "$bin/poll" "$bin/poll.orig"
			printf '#!/bin/sh\nexit 1\n' >"$bin/poll.new"
			chmod 755 "$bin/poll.new"
			mv -f "$bin/poll.new" "$bin/poll"
		fi
		pids=$(da_prog_pids "$kind" poll)
		[ -n "$pids" ] || pl_fail "$kind: no poll process found"
		# shellcheck disable=SC2086
		kill -KILL $pids
		pl_poll "topic=/down" -H 'Accept-Encoding: gzip'
		[ "$kind" = fcgid ] && mv -f "$bin/poll.orig" "$bin/poll"
		pl_expect_error 500 502 503 || pl_fail "$kind: a poll to a program that cannot answer"
		pl_jq_true '.error == "internal" or .error == "unavailable" or .error == "bad_gateway"' ||
			pl_fail "$kind: not a body of errors/"
		pl_expect_no_store || pl_fail "$kind"
		[ "$HTTP_STATUS" != 503 ] || pl_hdr Retry-After >/dev/null ||
			{ pl_show; pl_fail "$kind: a 503 without Retry-After"; }
		# The other programs go on answering.
		pl_pub /down "$kind still publishes"
	done
}

@test "each drop-in: push = off (docs/deploy.md 9): longpoll and stream answer their own 503, publish and poll work" {
	local kind d p
	for kind in $DA_KINDS; do
		da_use "$kind"
		d=$PL_STATE/$kind
		pl_write_test_conf "$PL_CONF" "$PL_DB" stream_max_time=30 heartbeat=15 push=off
		# Section 9: reload the web server; under 4c restart the programs.
		if [ "$kind" = fcgid ]; then
			kill -USR1 "$(cat "$d/run/apache2.pid")"
		else
			da_restart_programs "$kind"
		fi
		wait_for 10 da_push_off || pl_fail "$kind: longpoll still holds requests 10 s after the change"
		for p in longpoll stream; do
			pl_get "/push/$p?topic=/off&timeout=5" --max-time 10
			pl_expect_error 503 || pl_fail "$kind: $p with push = off"
			# The program's own answer, not Apache's error document.
			pl_jq_true '.error == "push_off"' || pl_fail "$kind: $p's 503 is not its own"
			pl_hdr Retry-After >/dev/null || { pl_show; pl_fail "$kind: $p's 503 has no Retry-After"; }
		done
		T=$(pl_topic "/$kind")
		pl_pub "$T" "push is off" || pl_fail "$kind: publish with push = off"
		pl_poll "topic=$T&since=all"
		pl_jq_true --argjson id "$PUB_ID" '[.messages[].id] == [$id]' || pl_fail "$kind: poll with push = off"
	done
}
