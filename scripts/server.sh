# scripts/server.sh: generate configs and run lighttpd or Apache for pushlite.
# shellcheck shell=bash
#
# Sourced (bash) by scripts/serve and tests/e2e/helper.bash, so that the
# development server and the tested server are the same thing. Defines:
#   pl_random_hex N                 N random bytes as hex
#   pl_write_pushlite_conf FILE DB SECRET PUBLISH-TOKEN ADMIN-TOKEN [EXTRA]
#   pl_server_settings KIND         prints the pushlite.conf lines that
#                                   depend on the web server
#   pl_free_port                    prints a TCP port free on 127.0.0.1
#   pl_gen_lighttpd STATE PORT BIN WWW CONF   writes STATE/lighttpd.conf
#   pl_gen_apache   STATE PORT BIN WWW CONF   writes STATE/apache.conf
#                                   (mod_fcgid starts the programs);
#                                   PL_GEN_BIN: where it runs the programs
#                                   from (a copy when BIN is out of reach)
#   pl_gen_apache_proxy STATE PORT BIN WWW CONF   the same for mod_proxy_fcgi,
#                                   and STATE/backends.sh, which starts the
#                                   programs with spawn-fcgi on unix sockets
#   pl_gen KIND STATE PORT BIN WWW CONF   one of the three by KIND
#   pl_server_start KIND STATE      starts lighttpd|apache|apache-proxy in its
#                                   own session, writes STATE/server.pid;
#                                   PL_SERVER_JOB is the job to `wait` for
#   pl_server_wait KIND STATE PORT SECONDS [PATH]
#                                   waits until it answers; fails at once if
#                                   it exited (and shows its error log)
#   pl_server_stop STATE            stops it and every process it started
# Programs looked for in BIN: publish poll longpoll stream admin; a server
# config names only those that exist (lighttpd refuses a missing bin-path).
# PL_SERVER_EXTRA, when set, is appended to the generated lighttpd.conf or
# apache.conf (the tests' login setups).

PL_PROGRAMS="publish poll longpoll stream admin"
PL_SRC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

pl_random_hex() {
	local n=${1:-24}
	if command -v openssl >/dev/null 2>&1; then
		openssl rand -hex "$n"
	else
		od -An -N"$n" -tx1 /dev/urandom | tr -d ' \n'
		echo
	fi
}

# pl_write_pushlite_conf FILE DB SECRET PUBLISH-TOKEN ADMIN-TOKEN [EXTRA]
# EXTRA: more lines for the [pushlite] section, then more sections.
pl_write_pushlite_conf() {
	local file=$1 db=$2 secret=$3 pub=$4 admin=$5 extra=${6-}
	cat >"$file" <<CONF
; pushlite development configuration, generated; see docs/deploy.md.
[pushlite]
database = $db
secret = $secret
$extra

[token publisher]
token = $pub
role = publish

[token admin]
token = $admin
role = admin
CONF
	chmod 600 "$file"
}

# Behind lighttpd, which passes a client's FIN on to longpoll and stream
# ("tcp-fin-propagate" in the generated config), a held long poll needs no
# keep-alive blanks: it writes nothing until its answer, which the server can
# then compress. Apache learns of a departed client only from a failed
# write, so there the blanks stay (the default, every 3 s).
# Under mod_fcgid every held request is a process of its own, and a request
# past FcgidMaxProcessesPerClass (300 in the generated config) waits for a
# process while it holds an Apache worker: a flood of long polls would take
# every worker and the whole site with them. A cap below it answers 429 at
# once instead (docs/deploy.md, 4b).
pl_server_settings() {
	case $1 in
	lighttpd) echo "longpoll_keepalive = 0" ;;
	apache) echo "max_waiting = 250" ;;
	esac
}

pl_port_busy() {
	(: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pl_free_port() {
	local p _
	for _ in $(seq 1 50); do
		p=$(( 10000 + (RANDOM * 32768 + RANDOM) % 22000 ))
		pl_port_busy "$p" || { echo "$p"; return 0; }
	done
	return 1
}

# Where the FastCGI sockets go: STATE/sock, unless that path is too long
# for a unix socket (108 bytes with lighttpd's "-N" suffix).
pl_sock_dir() {
	local state=$1 d
	d="$state/sock"
	if [ $(( ${#d} + 20 )) -gt 100 ]; then
		if [ -f "$state/sockdir" ]; then
			cat "$state/sockdir"
			return
		fi
		d=$(mktemp -d "${TMPDIR:-/tmp}/pushlite-sock.XXXXXX")
		printf '%s\n' "$d" >"$state/sockdir"
	fi
	mkdir -p "$d"
	printf '%s\n' "$d"
}

pl_subst() {  # pl_subst TEMPLATE OUT KEY=VALUE...
	local in=$1 out=$2 kv k v script=""
	shift 2
	for kv in "$@"; do
		k=${kv%%=*}
		v=${kv#*=}
		v=$(printf '%s' "$v" | sed -e 's/[\\|&]/\\&/g')
		script="$script s|@$k@|$v|g;"
	done
	sed -e "$script" "$in" >"$out"
}

# Descriptor limits: as many as the hard limit allows, at most 20480 (as
# lighttpd-conf/pushlite.conf: about 9,000 held requests).
pl_max_fds() {
	local hard
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] && hard=20480
	[ "$hard" -gt 20480 ] && hard=20480
	echo "$hard"
}

pl_gen_lighttpd() {
	local state=$1 port=$2 bin=$3 www=$4 conf=$5 sock prog procs key fds out
	sock=$(pl_sock_dir "$state")
	mkdir -p "$state/tmp"
	out="$state/lighttpd-fastcgi.conf"
	{
		echo "# generated by scripts/server.sh: one entry per built program"
		echo "fastcgi.server = ("
		for prog in $PL_PROGRAMS health; do
			key="/push/$prog"
			if [ "$prog" = health ]; then
				[ -x "$bin/admin" ] || continue
				bp="$bin/admin"
			else
				[ -x "$bin/$prog" ] || continue
				bp="$bin/$prog"
			fi
			# poll answers at once: two processes use both cores.
			# publish: one process whose event loop commits what
			# arrives together in one transaction (on one writer
			# connection; two processes would fight over SQLite's
			# write lock instead). longpoll and stream hold
			# requests; they multiplex them inside one process.
			case $prog in
			poll) procs=2 ;;
			*) procs=1 ;;
			esac
			eval "procs=\${PL_MAX_PROCS_$prog:-$procs}"
			fin=
			case $prog in
			longpoll|stream) fin='		"tcp-fin-propagate" => "enable",' ;;
			esac
			cat <<ENTRY
	"$key" => ((
		"socket" => "$sock/$prog.sock",
		"bin-path" => "$bp",
		"bin-environment" => ( "PUSHLITE_CONF" => "$conf" ),
		"max-procs" => $procs,
		"check-local" => "disable",
$fin
	)),
ENTRY
		done
		# Any other path under /push/: a JSON 404 from the admin
		# program. lighttpd takes the first matching prefix: keep last.
		if [ -x "$bin/admin" ]; then
			cat <<ENTRY
	"/push/" => ((
		"socket" => "$sock/other.sock",
		"bin-path" => "$bin/admin",
		"bin-environment" => ( "PUSHLITE_CONF" => "$conf" ),
		"max-procs" => 1,
		"check-local" => "disable",
	)),
ENTRY
		fi
		echo ")"
	} >"$out"
	fds=$(pl_max_fds)
	pl_subst "$PL_SRC_ROOT/lighttpd-conf/dev.conf.in" "$state/lighttpd.conf" \
		STATE="$state" PORT="$port" WWW="$www" FASTCGI="$out" CONF="$conf" \
		ERRORS="$PL_SRC_ROOT/errors" \
		MAXFDS="$fds" MAXCONN="$(( fds * 45 / 100 ))" || return 1
	[ -z "${PL_SERVER_EXTRA-}" ] || printf '%s\n' "$PL_SERVER_EXTRA" >>"$state/lighttpd.conf"
}

pl_apache_moddir() {
	local d
	for d in /usr/lib/apache2/modules /usr/lib64/httpd/modules /usr/lib/httpd/modules; do
		[ -f "$d/mod_fcgid.so" ] && { echo "$d"; return 0; }
	done
	echo /usr/lib/apache2/modules
}

# pl_user_can USER TEST-ARGS...: `test TEST-ARGS` run as USER.
pl_user_can() {
	local u=$1
	shift
	if command -v runuser >/dev/null 2>&1; then
		runuser -u "$u" -- test "$@" 2>/dev/null
	else
		su -s /bin/sh "$u" -c 'test "$@"' sh "$@" 2>/dev/null
	fi
}

# pl_give_search USER DIR: make DIR reachable for USER. Each directory on
# the way that USER may not search (a checkout under /root, mode 700) gets an
# ACL entry giving USER search permission there, and nothing else: no one
# else's rights change, and USER may not list or read what is beside DIR.
pl_give_search() {
	local u=$1 d=$2 p="" part
	pl_user_can "$u" -x "$d/." && return 0
	local IFS=/
	for part in ${d#/}; do
		p="$p/$part"
		pl_user_can "$u" -x "$p/." && continue
		# With no ACL before, the undo is to remove the whole ACL
		# (the mask entry setfacl adds would stay otherwise).
		local undo="setfacl -b $p"
		[ "$(getfacl -cp "$p" 2>/dev/null | grep -cvE '^(user|group|other)::|^$')" = 0 ] ||
			undo="setfacl -x u:$u $p"
		if ! command -v setfacl >/dev/null 2>&1 || ! setfacl -m "u:$u:x" "$p" 2>/dev/null; then
			echo "serve: $u (Apache's user) cannot reach $d: $p is closed to it; give it search permission there, or choose a PUSHLITE_STATE it can reach" >&2
			return 1
		fi
		echo "serve: gave $u search permission on $p (an ACL entry; undo: $undo), so Apache's programs reach $d" >&2
	done
	return 0
}

# pl_inotify_room: under mod_fcgid every waiting request is a process of
# its own with its own inotify instance, and Linux allows a user 128 by
# default: the waiters past that wake only by the programs' fallback
# check. As root, raise the limit to the config's FcgidMaxProcesses and
# some (it is the host's, so say so, with the undo); else warn.
pl_inotify_room() {
	local f=/proc/sys/fs/inotify/max_user_instances want=1024 cur
	cur=$(cat "$f" 2>/dev/null) || return 0
	[ "$cur" -ge "$want" ] 2>/dev/null && return 0
	if [ "$(id -u)" = 0 ] && echo "$want" >"$f" 2>/dev/null; then
		echo "serve: raised fs.inotify.max_user_instances from $cur to $want, one per waiting request under mod_fcgid (undo: sysctl -w fs.inotify.max_user_instances=$cur)" >&2
	else
		echo "serve: fs.inotify.max_user_instances is $cur: under mod_fcgid, waiting requests past that many wake by the fallback check, not at once (raise it as root: sysctl -w fs.inotify.max_user_instances=$want)" >&2
	fi
}

# pl_gen_apache_any BACKEND STATE PORT BIN WWW CONF: BACKEND is FCGID,
# PROXY_FCGI or CGID (see apache-conf/dev.conf.in).
pl_gen_apache_any() {
	local backend=$1 state=$2 port=$3 bin=$4 www=$5 conf=$6 user="" p
	local errors="$PL_SRC_ROOT/errors"
	mkdir -p "$state/apache"
	PL_GEN_BIN=$bin
	if [ "$(id -u)" = 0 ]; then
		# Apache refuses to serve as root: it and the programs run as
		# this user, which must own the state directory (SQLite writes
		# the -wal and -shm files beside the database).
		local u=${PL_APACHE_USER:-www-data}
		user="User $u
Group $(id -gn "$u")"
		# The database, the lock files and the sockets live in STATE:
		# copies cannot stand in for them.
		pl_give_search "$u" "$state" || return 1
		# A checkout under a private directory (e.g. /root) is out of
		# that user's reach: serve copies of the programs and of www/.
		if ! pl_user_can "$u" -x "$bin/." ; then
			mkdir -p "$state/bin"
			for p in $PL_PROGRAMS; do
				[ -x "$bin/$p" ] && cp -f "$bin/$p" "$state/bin/$p"
			done
			bin="$state/bin"
			PL_GEN_BIN=$bin
		fi
		if ! pl_user_can "$u" -r "$www/." || ! pl_user_can "$u" -x "$www/."; then
			rm -rf "$state/www"
			cp -R "$www" "$state/www" 2>/dev/null || mkdir -p "$state/www"
			www="$state/www"
		fi
		if ! pl_user_can "$u" -r "$errors/status-503.html"; then
			rm -rf "$state/errors"
			cp -R "$errors" "$state/errors"
			errors="$state/errors"
		fi
	fi
	[ "$backend" = PROXY_FCGI ] || pl_inotify_room
	pl_subst "$PL_SRC_ROOT/apache-conf/dev.conf.in" "$state/apache.conf" \
		STATE="$state" PORT="$port" WWW="$www" BIN="$bin" CONF="$conf" \
		ERRORS="$errors" \
		MODDIR="$(pl_apache_moddir)" BACKEND="$backend" \
		SOCK="$(pl_sock_dir "$state")"
	# USERLINES spans lines: replace it separately.
	local tmp="$state/apache.conf.tmp"
	awk -v u="$user" '$0 == "@USERLINES@" { print u; next } { print }' \
		"$state/apache.conf" >"$tmp" && mv "$tmp" "$state/apache.conf" || return 1
	[ -z "${PL_SERVER_EXTRA-}" ] || printf '%s\n' "$PL_SERVER_EXTRA" >>"$state/apache.conf"
}

pl_gen_apache() {
	pl_gen_apache_any FCGID "$@"
}

# Plain CGI through mod_cgid (docs/deploy.md 4e).
pl_gen_apache_cgi() {
	pl_gen_apache_any CGID "$@"
}

# The programs for mod_proxy_fcgi: STATE/backends.sh, sourced by the
# session leader with the server's command line as "$@", starts each built
# program with spawn-fcgi (-n: it becomes the program, in the server's
# process group, so that pl_server_stop stops it too) on SOCK/PROG.sock, as
# the Apache user when run as root, waits until every socket exists, then
# runs the server and stops the programs when it ends. health is answered
# by admin on its socket.
pl_gen_apache_proxy() {
	local state=$1 conf=$5 sock bin prog drop=""
	pl_gen_apache_any PROXY_FCGI "$@" || return 1
	bin=$PL_GEN_BIN
	sock=$(pl_sock_dir "$state")
	if [ "$(id -u)" = 0 ]; then
		local u=${PL_APACHE_USER:-www-data} g
		g=$(id -gn "$u")
		drop="-u $u -g $g -U $u -G $g"
	fi
	{
		echo "# generated by scripts/server.sh: the pushlite programs for mod_proxy_fcgi"
		echo "PUSHLITE_CONF='$conf'"
		echo "export PUSHLITE_CONF"
		echo "socks='' pids=''"
		for prog in $PL_PROGRAMS; do
			[ -x "$bin/$prog" ] || continue
			echo "rm -f '$sock/$prog.sock'"
			echo "$(pl_spawn_fcgi_bin) -n -s '$sock/$prog.sock' -M 0600 $drop -- '$bin/$prog' &"
			echo "socks=\"\$socks $prog\""
			echo "pids=\"\$pids \$!\""
		done
		cat <<'WAIT'
t=50
for s in $socks; do
	while [ ! -S "@SOCK@/$s.sock" ] && [ "$t" -gt 0 ]; do
		sleep 0.1
		t=$((t - 1))
	done
done
# Then the server, as a child of this shell, which stays the session leader
# (server.pid): stopping it stops Apache and the programs, and it exits once
# they are gone, as lighttpd and mod_fcgid take their programs with them.
"$@" &
server=$!
trap 'kill -TERM $server $pids 2>/dev/null' TERM INT HUP
wait "$server"
kill -TERM $server $pids 2>/dev/null
wait
WAIT
	} | sed -e "s|@SOCK@|$sock|g" >"$state/backends.sh"
}

pl_spawn_fcgi_bin() {
	command -v spawn-fcgi || echo /usr/bin/spawn-fcgi
}

# pl_gen KIND STATE PORT BIN WWW CONF
pl_gen() {
	local kind=$1
	shift
	case $kind in
	lighttpd) pl_gen_lighttpd "$@" ;;
	apache) pl_gen_apache "$@" ;;
	apache-proxy) pl_gen_apache_proxy "$@" ;;
	apache-cgi) pl_gen_apache_cgi "$@" ;;
	*) echo "pl_gen: unknown server '$kind'" >&2; return 1 ;;
	esac
}

# The server's owner: when Apache runs as root it switches to www-data,
# which then needs the state directory.
pl_state_owner() {
	local kind=$1 state=$2
	case $kind in
	apache|apache-proxy|apache-cgi) ;;
	*) return 0 ;;
	esac
	if [ "$(id -u)" = 0 ]; then
		chown -R "${PL_APACHE_USER:-www-data}:" "$state"
		# a socket directory of its own (a long STATE path)
		[ -f "$state/sockdir" ] && chown -R "${PL_APACHE_USER:-www-data}:" "$(cat "$state/sockdir")"
	fi
	return 0
}

pl_pid_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

pl_apache_bin() {
	command -v apache2 || command -v httpd || echo /usr/sbin/apache2
}

pl_lighttpd_bin() {
	command -v lighttpd || echo /usr/sbin/lighttpd
}

# Starts the server in a session of its own (lighttpd with max-worker
# signals its whole process group; and so our caller's Ctrl-C does not
# reach it half-way). The session leader is the server; every FastCGI
# program it starts stays in its process group, which pl_server_stop kills.
pl_server_start() {
	local kind=$1 state=$2 log
	log="$state/server.out"
	rm -f "$state/server.pid"
	case $kind in
	lighttpd)
		"$(pl_lighttpd_bin)" -tt -f "$state/lighttpd.conf" >>"$log" 2>&1 || {
			cat "$log" >&2
			return 1
		}
		setsid --wait sh -c 'echo $$ >"$0"; exec "$@"' "$state/server.pid" \
			"$(pl_lighttpd_bin)" -D -f "$state/lighttpd.conf" \
			</dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- &
		;;
	apache|apache-cgi)
		"$(pl_apache_bin)" -t -f "$state/apache.conf" >>"$log" 2>&1 || {
			cat "$log" >&2
			return 1
		}
		setsid --wait sh -c 'echo $$ >"$0"; exec "$@"' "$state/server.pid" \
			"$(pl_apache_bin)" -f "$state/apache.conf" -DFOREGROUND \
			</dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- &
		;;
	apache-proxy)
		[ -x "$(pl_spawn_fcgi_bin)" ] || {
			echo "pl_server_start: spawn-fcgi is not installed" >&2
			return 1
		}
		"$(pl_apache_bin)" -t -f "$state/apache.conf" >>"$log" 2>&1 || {
			cat "$log" >&2
			return 1
		}
		# The programs, then Apache, under a shell that leads their
		# session (and process group) and stops them all when stopped.
		setsid --wait sh -c 'echo $$ >"$0"; pl_run=$1; shift; . "$pl_run"' "$state/server.pid" \
			"$state/backends.sh" \
			"$(pl_apache_bin)" -f "$state/apache.conf" -DFOREGROUND \
			</dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- &
		;;
	*)
		echo "pl_server_start: unknown server '$kind'" >&2
		return 1
		;;
	esac
	# shellcheck disable=SC2034  # for the caller to wait on
	PL_SERVER_JOB=$!
	local t=50
	until [ -s "$state/server.pid" ]; do
		(( --t > 0 )) || { echo "server did not start" >&2; return 1; }
		sleep 0.1
	done
}

pl_server_pid() {
	cat "$1/server.pid" 2>/dev/null
}

pl_server_errlog() {
	local state=$1 f
	for f in "$state/server.out" "$state/lighttpd-error.log" "$state/apache-error.log"; do
		[ -s "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
	done
}

# pl_server_wait KIND STATE PORT SECONDS [PATH]
# PATH: what to ask for, /push/health by default.
pl_server_wait() {
	local kind=$1 state=$2 port=$3 secs=${4:-20} path=${5:-/push/health} pid end
	pid=$(pl_server_pid "$state")
	# A deadline, not a count of tries: a server that accepts and never
	# answers makes each try last curl's whole --max-time.
	end=$(( SECONDS + secs ))
	while :; do
		if ! pl_pid_alive "$pid"; then
			echo "$kind exited during start-up" >&2
			pl_server_errlog "$state" >&2
			return 1
		fi
		curl -s -o /dev/null --max-time 2 -w '%{http_code}' \
			"http://127.0.0.1:$port$path" 2>/dev/null | grep -q '^[1-5]' && return 0
		(( SECONDS < end )) || break
		sleep 0.1
	done
	echo "$kind did not answer on port $port within $secs s" >&2
	pl_server_errlog "$state" >&2
	return 1
}

pl_group_alive() {
	local p
	for p in $(pgrep -g "$1" 2>/dev/null); do
		pl_pid_alive "$p" && return 0
	done
	return 1
}

# Stops the server: SIGTERM to it, then to whatever of its process group is
# left (FastCGI programs that outlived it), then SIGKILL.
pl_server_stop() {
	local state=$1 pid t
	pid=$(pl_server_pid "$state")
	[ -n "$pid" ] || return 0
	if pl_pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		t=100
		while pl_pid_alive "$pid" && (( --t > 0 )); do sleep 0.05; done
	fi
	if pl_group_alive "$pid"; then
		kill -TERM -- "-$pid" 2>/dev/null
		t=40
		while pl_group_alive "$pid" && (( --t > 0 )); do sleep 0.05; done
		pl_group_alive "$pid" && kill -KILL -- "-$pid" 2>/dev/null
	fi
	if pl_pid_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$state/server.pid"
	if [ -f "$state/sockdir" ]; then
		rm -rf "$(cat "$state/sockdir")"
		rm -f "$state/sockdir"
	fi
	return 0
}
