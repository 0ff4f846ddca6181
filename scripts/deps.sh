# scripts/deps.sh: install what pushlite needs on Debian, and build it.
#
# Sourced by scripts/serve and scripts/test (bash). Defines:
#   pl_deps_install [EXTRA-PACKAGE...]
#       Installs the missing Debian packages (build, servers, test tools) with
#       apt-get. dpkg-query decides what is missing, so a machine that has
#       everything never touches apt. Needs root; as another user it only
#       names what is missing.
#   pl_build [--werror]
#       autoreconf -fi (when configure is missing or older than configure.ac),
#       ./configure (when needed), make -j2, in the repository root; their
#       output is shown only when one fails (kept in PL_BUILD_LOG when set).
#       --werror, or CI=true in the environment, adds --enable-werror.
#   pl_repo_root
#       Prints the repository root (the parent of scripts/).

PL_BUILD_PACKAGES="build-essential autoconf automake libtool pkg-config
	libfcgi-dev libfcgi-bin libsqlite3-dev sqlite3 libjson-c-dev libinih-dev
	libssl-dev zlib1g-dev libcurl4-openssl-dev"
PL_RUN_PACKAGES="lighttpd lighttpd-mod-deflate apache2 libapache2-mod-fcgid spawn-fcgi openssl
	curl procps acl"
PL_TEST_PACKAGES="bats jq libxml2-utils python3 groff-base apache2-utils"

pl_repo_root() {
	(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
}

pl_log() {
	printf '%s\n' "$*" >&2
}

# Prints the packages among "$@" that are not installed.
pl_deps_missing() {
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$st" = installed ] || printf '%s\n' "$p"
	done
}

pl_deps_install() {
	local missing policy_made=0
	# shellcheck disable=SC2086 # word splitting of the package lists is wanted
	missing=$(pl_deps_missing $PL_BUILD_PACKAGES $PL_RUN_PACKAGES $PL_TEST_PACKAGES "$@")
	[ -n "$missing" ] || return 0
	missing=$(printf '%s' "$missing" | tr '\n' ' ')
	if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
		pl_log "pushlite: not a Debian system; install by hand: $missing"
		return 1
	fi
	if [ "$(id -u)" != 0 ]; then
		pl_log "pushlite: missing packages (run as root to install them): $missing"
		return 1
	fi
	pl_log "pushlite: installing $missing"
	# Installing lighttpd or apache2 would start the system services on
	# port 80; we run our own servers, so tell invoke-rc.d not to, unless
	# the machine already has a policy of its own.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy_made=1
	fi
	local rc=0 log svc
	log=$(mktemp "${TMPDIR:-/tmp}/pushlite-apt.XXXXXX") || return 1
	export DEBIAN_FRONTEND=noninteractive
	# apt and dpkg talk a lot (hundreds of lines for a fresh machine): kept
	# in a log, shown only when something failed.
	# $missing: package names, split on purpose.
	# shellcheck disable=SC2086
	if ! apt-get update -q >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		pl_log "pushlite: apt-get update failed"
		rc=1
	elif ! apt-get install -y -q --no-install-recommends $missing >>"$log" 2>&1; then
		tail -n 40 "$log" >&2
		pl_log "pushlite: apt-get install failed for: $missing"
		rc=1
	fi
	rm -f "$log"
	[ "$policy_made" = 1 ] && rm -f /usr/sbin/policy-rc.d
	# The web servers installed here are for our own instances on other
	# ports: leave them out of the next boot too, where both would ask for
	# port 80. One the machine had before is not touched.
	for svc in lighttpd apache2; do
		case " $missing " in *" $svc "*) ;; *) continue ;; esac
		if command -v systemctl >/dev/null 2>&1 &&
			systemctl disable --quiet "$svc" >/dev/null 2>&1; then
			pl_log "pushlite: installed $svc, not started at boot (systemctl enable $svc to have it)"
		elif update-rc.d "$svc" disable >/dev/null 2>&1; then
			pl_log "pushlite: installed $svc, not started at boot (update-rc.d $svc enable to have it)"
		fi
	done
	[ "$rc" = 0 ] && pl_log "pushlite: installed"
	return $rc
}

pl_build() {
	local root werror=0 want have log rc
	root=$(pl_repo_root)
	[ "${1-}" = --werror ] && werror=1
	[ "${CI-}" = true ] && werror=1
	# PL_BUILD_LOG: keep the whole output there (scripts/test does).
	log=${PL_BUILD_LOG:-}
	if [ -n "$log" ]; then
		: >"$log" || return 1
	else
		log=$(mktemp "${TMPDIR:-/tmp}/pushlite-build.XXXXXX") || return 1
	fi
	(
		# Each step's output goes to the log, shown when the step fails:
		# a build that works says so in three lines.
		step() {
			"$@" >>"$log" 2>&1 && return 0
			tail -n 40 "$log" >&2
			pl_log "pushlite: $* failed"
			exit 1
		}
		cd "$root" || exit 1
		if [ ! -x configure ] || [ configure.ac -nt configure ]; then
			pl_log "pushlite: autoreconf -fi"
			step autoreconf -fi
		fi
		want=""
		[ "$werror" = 1 ] && want="--enable-werror"
		have=""
		if [ -x config.status ]; then
			./config.status --config 2>/dev/null | grep -q -- --enable-werror &&
				have="--enable-werror"
		fi
		if [ ! -f Makefile ] || [ ! -x config.status ] ||
			[ configure -nt config.status ] || [ "$want" != "$have" ]; then
			pl_log "pushlite: ./configure $want"
			# shellcheck disable=SC2086
			step ./configure $want ${PL_CONFIGURE_FLAGS-}
		fi
		pl_log "pushlite: make -j2"
		step make -j2
	)
	rc=$?
	[ -n "${PL_BUILD_LOG:-}" ] || rm -f "$log"
	return $rc
}
