#!/usr/bin/env bash
# Entrypoint of storefront-postgresql, after the official postgres image's contract:
#
#   POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE  the superuser's password (one is required)
#   POSTGRES_USER    the superuser created by initdb (default postgres)
#   POSTGRES_DB      a database created on first start (default: POSTGRES_USER)
#   PGDATA           the data directory (default /var/lib/postgresql/data); may be a
#                    subdirectory of a mounted volume
#   POSTGRES_INITDB_ARGS  extra initdb arguments
#   PGPORT           the port (default 5432), honoured by postgres and its client tools
#
# On an empty PGDATA it runs initdb (scram-sha-256 for TCP from anywhere, trust on the local
# socket, listen_addresses='*'), creates the database on a socket-only temporary server, stops
# it, then execs postgres in the foreground as PID 1. It runs as any non-root UID: one without
# a passwd entry gets a temporary one from libnss-wrapper (initdb needs it). Run as root, it
# hands over to UID 10001. No password is ever written to the log or a command line.
set -Eeuo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u +'%Y-%m-%d %H:%M:%S UTC')" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# VAR or VAR_FILE, not both; the value ends up in VAR and VAR_FILE is unset.
file_env() {
  local var=$1 file_var="${1}_FILE" default=${2:-}
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    die "both $var and $file_var are set; use one"
  fi
  local value=$default
  if [ -n "${!var:-}" ]; then
    value=${!var}
  elif [ -n "${!file_var:-}" ]; then
    [ -r "${!file_var}" ] || die "$file_var names ${!file_var}, which is not readable by UID $(id -u)"
    value=$(<"${!file_var}")
  fi
  export "$var"="$value"
  unset "$file_var"
}

# A passwd entry for the running UID when it has none (OpenShift-style arbitrary UIDs, or a
# runAsUser other than 10001): initdb refuses to run without one.
nss_wrapper_on() {
  getent passwd "$(id -u)" >/dev/null 2>&1 && return 0
  local lib
  lib=$(compgen -G '/usr/lib/*/libnss_wrapper.so' | head -1) || true
  [ -n "$lib" ] || die "UID $(id -u) has no passwd entry and libnss_wrapper.so is missing"
  NSS_WRAPPER_PASSWD=$(mktemp) NSS_WRAPPER_GROUP=$(mktemp)
  export NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
  printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$(id -u)" "$(id -g)" "${PGDATA%/*}" >"$NSS_WRAPPER_PASSWD"
  printf 'postgres:x:%s:\n' "$(id -g)" >"$NSS_WRAPPER_GROUP"
  export LD_PRELOAD="$lib${LD_PRELOAD:+ $LD_PRELOAD}"
}
nss_wrapper_off() {
  [ -n "${NSS_WRAPPER_PASSWD:-}" ] || return 0
  rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
  unset NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP LD_PRELOAD
}

init_database_dir() {
  file_env POSTGRES_PASSWORD
  [ -n "$POSTGRES_PASSWORD" ] || die "set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (the superuser needs a password: TCP logins use scram-sha-256)"
  nss_wrapper_on
  log "initialising $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)"
  local initdb_args=()
  # Word splitting is the documented contract of POSTGRES_INITDB_ARGS.
  # shellcheck disable=SC2206
  [ -z "${POSTGRES_INITDB_ARGS:-}" ] || initdb_args=($POSTGRES_INITDB_ARGS)
  # The password reaches initdb through a pipe (a /dev/fd path), never an argument.
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    "${initdb_args[@]}" >&2
  {
    echo "# storefront-postgresql: the socket needs no password, every TCP client does."
    echo "local all all trust"
    echo "host all all all scram-sha-256"
  } >"$PGDATA/pg_hba.conf"
  {
    echo
    echo "# storefront-postgresql"
    echo "listen_addresses = '*'"
    echo "password_encryption = scram-sha-256"
  } >>"$PGDATA/postgresql.conf"

  # The database, on a temporary server that only listens on its socket.
  pg_ctl --pgdata="$PGDATA" --wait --silent -o "-c listen_addresses=''" start >&2 \
    || die "the temporary server did not start"
  if [ "$POSTGRES_DB" != postgres ]; then
    local exists
    exists=$(psql --no-psqlrc --no-password --username="$POSTGRES_USER" --dbname=postgres -tA \
      --set db="$POSTGRES_DB" <<<"SELECT 1 FROM pg_database WHERE datname = :'db'")
    if [ -z "$exists" ]; then
      psql --no-psqlrc --no-password -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname=postgres \
        --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
    fi
  fi
  pg_ctl --pgdata="$PGDATA" --wait --silent -m fast stop >&2
  nss_wrapper_off
  unset POSTGRES_PASSWORD
  log "initialised; starting PostgreSQL"
}

# Options only (`docker run image -c shared_buffers=...`) are postgres's.
if [ "${1:-}" = "" ] || [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" = postgres ] || [ "$1" = "$(command -v postgres)" ]; then
  : "${PGDATA:=/var/lib/postgresql/data}"
  export PGDATA
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  export POSTGRES_USER POSTGRES_DB

  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root: own the directories (and the volume PGDATA is in)
    # and go on as UID 10001.
    mkdir -p "$PGDATA" /var/run/postgresql
    chown 10001:10001 "$PGDATA" /var/run/postgresql
    if [ "${PGDATA%/*}" = /var/lib/postgresql/data ]; then chown 10001:10001 /var/lib/postgresql/data; fi
    chmod 700 "$PGDATA"
    exec setpriv --reuid=10001 --regid=10001 --clear-groups "$BASH_SOURCE" "$@"
  fi

  mkdir -p "$PGDATA" || die "cannot create PGDATA $PGDATA as UID $(id -u)"
  # PostgreSQL insists on 0700 (or 0750); the owner may change the mode, and a directory owned
  # by someone else is reported by postgres itself.
  if [ -O "$PGDATA" ]; then chmod 700 "$PGDATA"; fi
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    init_database_dir
  else
    log "$PGDATA holds a database (PostgreSQL $(cat "$PGDATA/PG_VERSION")); starting PostgreSQL"
  fi
  unset POSTGRES_PASSWORD POSTGRES_PASSWORD_FILE
  exec "$@"
fi

exec "$@"
