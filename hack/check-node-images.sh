#!/usr/bin/env bash
# Runs the images of hack/build-node-images.sh the way the charts and the kubelet run them, and
# fails on the first one that does not behave:
#
#   storefront-postgresql:15  as UID 10001 (and as an arbitrary UID), read-only root, tmpfs at
#                             /tmp and /var/run/postgresql, data on a host directory, password
#                             from a file: pg_isready, a scram-sha-256 login over TCP (a wrong
#                             password refused), postgres as PID 1, a fast clean stop, a restart
#                             on the same data, no password in the log; then the API image's
#                             migrations against it, and the broken-migration image failing
#   storefront-redis:7        the chart's own command (cluster mode, password in /tmp/redis.conf)
#   storefront-pause:3.10     runs, reports its version, exits 0 on SIGTERM
#   every image               the user the charts expect
#
# Needs the images (build them first) and root; starts dockerd like the build when none runs.
#   hack/check-node-images.sh            # TAG=local, as the build
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${TAG:-local}"
WORK="$(mktemp -d /tmp/sf-node-check.XXXXXX)"
chmod 0755 "$WORK"
LOG_TAG=node-check
# shellcheck source=hack/lib/images.sh
source hack/lib/images.sh

containers=()
cleanup() {
  local status=$?
  [ ${#containers[@]} -eq 0 ] || docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  images_stop_dockerd
  if [ "$status" -eq 0 ]; then rm -rf "$WORK"; else log "logs kept in $WORK"; fi
}
trap cleanup EXIT
[ "$(id -u)" -eq 0 ] || die "run as root (it starts dockerd and owns directories for UID 10001)"
images_lock
images_start_dockerd

run_id=$$
# A free TCP port on the loopback, below the ephemeral range.
free_port() {
  local port
  for port in $(shuf -i 20000-29999 -n 50); do
    [ -z "$(ss -Hltn "sport = :$port")" ] && { echo "$port"; return 0; }
  done
  die "no free port found"
}
# poll SECONDS DESCRIPTION COMMAND...: bounded, every half second.
poll() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
  log "ok: $what"
}
container_log() { docker logs "$1" >"$WORK/$1.log" 2>&1 || true; tail_log "$WORK/$1.log"; }
expect_user() {  # IMAGE USER
  [ "$(docker image inspect -f '{{.Config.User}}' "$1")" = "$2" ] || die "$1: USER is not $2"
}

# Kubernetes's restricted profile, as the charts set it.
HARDENED=(--read-only --cap-drop ALL --security-opt no-new-privileges)

# --- PostgreSQL ----------------------------------------------------------------------------
PG=storefront-postgresql:15
expect_user "$PG" 10001:10001
password=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
mkdir -p "$WORK/pg-secret"
printf '%s' "$password" >"$WORK/pg-secret/password"
# As the chart mounts it: root's file, readable by the fsGroup 10001 (mode 0440).
chown -R 0:10001 "$WORK/pg-secret"; chmod 0750 "$WORK/pg-secret"; chmod 0440 "$WORK/pg-secret/password"

pg_start() {  # NAME USER DATA-DIR PORT
  local name=$1 user=$2 data=$3 port=$4
  containers+=("$name")
  docker run -d --name "$name" --user "$user" "${HARDENED[@]}" \
    --tmpfs /tmp:mode=1777 --tmpfs /var/run/postgresql:mode=1777 \
    -v "$data:/var/lib/postgresql/data" -v "$WORK/pg-secret:/etc/storefront/postgresql:ro" \
    -e POSTGRES_USER=storefront -e POSTGRES_DB=storefront \
    -e POSTGRES_PASSWORD_FILE=/etc/storefront/postgresql/password \
    -e PGDATA=/var/lib/postgresql/data/pgdata -e PGPORT="$port" \
    --network host "$PG" >/dev/null
  # The chart's probe, inside the container, over TCP.
  poll 90 "$name: pg_isready -h 127.0.0.1 -p $port" docker exec "$name" pg_isready -h 127.0.0.1 -p "$port" -q \
    || { container_log "$name"; die "$name: PostgreSQL did not become ready"; }
}
pg_stop() {  # NAME: the kubelet's stop (the image's STOPSIGNAL), which must end cleanly
  local name=$1 code
  docker stop -t 30 "$name" >/dev/null
  code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
  docker logs "$name" >"$WORK/$name.log" 2>&1
  [ "$code" = 0 ] || { tail_log "$WORK/$name.log"; die "$name: exit code $code after the stop signal"; }
  grep -q "database system is shut down" "$WORK/$name.log" || { tail_log "$WORK/$name.log"; die "$name: no clean shutdown"; }
  ! grep -qF "$password" "$WORK/$name.log" || die "$name: the password is in the log"
  log "ok: $name stopped cleanly (exit 0) and logged no password"
  docker rm "$name" >/dev/null
}

pg_data="$WORK/pg-data"
mkdir -p "$pg_data"; chown 10001:10001 "$pg_data"   # the volume, owned by the fsGroup
pg_port=$(free_port)
pg_start "sf-check-pg-$run_id" 10001:10001 "$pg_data" "$pg_port"
pg="sf-check-pg-$run_id"
[ "$(docker exec "$pg" cat /proc/1/comm)" = postgres ] || die "$pg: PID 1 is not postgres"
log "ok: postgres is PID 1"
login() { PGPASSWORD=$1 PGCONNECT_TIMEOUT=5 psql -w "host=127.0.0.1 port=$pg_port user=storefront dbname=storefront sslmode=disable" -XtAc "$2"; }
[ "$(login "$password" 'SELECT current_user || current_database()')" = storefrontstorefront ] \
  || die "$pg: the password login over TCP failed"
[ "$(login "$password" "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host'")" = scram-sha-256 ] \
  || die "$pg: TCP logins are not scram-sha-256"
log "ok: scram-sha-256 login as storefront to database storefront over TCP"
if login "wrong-$password" 'SELECT 1' >/dev/null 2>&1; then die "$pg: a wrong password was accepted"; fi
log "ok: a wrong password is refused"

# The API's migrations against it, then the test image whose extra migration must fail.
url="postgresql+asyncpg://storefront:$password@127.0.0.1:$pg_port/storefront"
migrate() {  # IMAGE
  docker run --rm --user 10001:10001 "${HARDENED[@]}" --tmpfs /tmp:mode=1777 --network host \
    -e STOREFRONT_DATABASE_URL="$url" "$1" python -m app.cli migrate
}
migrate "storefront-app:$TAG" >"$WORK/migrate.log" 2>&1 || { tail_log "$WORK/migrate.log"; die "migrations failed"; }
head_revision=$(login "$password" 'SELECT version_num FROM alembic_version')
log "ok: storefront-app:$TAG migrated the database to $head_revision"
if migrate "storefront-app:$TAG-broken-migration" >"$WORK/migrate-broken.log" 2>&1; then
  die "storefront-app:$TAG-broken-migration: its migration succeeded"
fi
grep -q "syntax error" "$WORK/migrate-broken.log" || { tail_log "$WORK/migrate-broken.log"; die "the broken migration failed for another reason"; }
[ "$(login "$password" 'SELECT version_num FROM alembic_version')" = "$head_revision" ] || die "the broken migration moved the revision"
log "ok: storefront-app:$TAG-broken-migration fails on its SQL and leaves the database at $head_revision"

pg_stop "$pg"
pg_start "$pg-again" 10001:10001 "$pg_data" "$pg_port"
grep -q "holds a database" <(docker logs "$pg-again" 2>&1) || die "$pg-again: initialised the data again"
[ "$(login "$password" 'SELECT version_num FROM alembic_version')" = "$head_revision" ] || die "$pg-again: the data is gone"
log "ok: a restart on the same data keeps it"
pg_stop "$pg-again"

# An arbitrary UID with no passwd entry (libnss-wrapper while initdb runs) and group 10001.
mkdir -p "$WORK/pg-data-uid"; chown 23456:10001 "$WORK/pg-data-uid"
pg_start "$pg-uid" 23456:10001 "$WORK/pg-data-uid" "$(free_port)"
log "ok: UID 23456 without a passwd entry initialises and serves"
pg_stop "$pg-uid"

# --- Redis ---------------------------------------------------------------------------------
REDIS=storefront-redis:7
expect_user "$REDIS" 10001:10001
mkdir -p "$WORK/redis-data" "$WORK/redis-secret"
chown 10001:10001 "$WORK/redis-data"
printf '%s' "$password" >"$WORK/redis-secret/password"
chown -R 0:10001 "$WORK/redis-secret"; chmod 0750 "$WORK/redis-secret"; chmod 0440 "$WORK/redis-secret/password"
# The command of charts/storefront/templates/redis-statefulset.yaml, verbatim.
redis_command=$(python3 -c '
import re, sys
text = open("charts/storefront/templates/redis-statefulset.yaml").read()
block = re.search(r"- \|\n((?:\s{14}.*\n)+)", text).group(1)
print("\n".join(line[14:] for line in block.splitlines()))')
[[ "$redis_command" == *"--cluster-enabled yes"* ]] || die "could not read the chart's Redis command"
redis="sf-check-redis-$run_id"
containers+=("$redis")
docker run -d --name "$redis" --user 10001:10001 "${HARDENED[@]}" --tmpfs /tmp:mode=1777 \
  -v "$WORK/redis-data:/data" -v "$WORK/redis-secret:/etc/storefront/redis:ro" --network none \
  "$REDIS" /bin/sh -c "$redis_command" >/dev/null
# The chart's readiness probe, verbatim.
redis_probe='REDISCLI_AUTH="$(cat /etc/storefront/redis/password)" redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
poll 30 "$redis: the chart's readiness probe" docker exec "$redis" /bin/sh -c "$redis_probe" \
  || { container_log "$redis"; die "$redis: not ready"; }
docker exec "$redis" /bin/sh -c 'REDISCLI_AUTH="$(cat /etc/storefront/redis/password)" redis-cli -p 6379 info cluster' \
  | grep -q '^cluster_enabled:1' || die "$redis: not in cluster mode"
[ -s "$WORK/redis-data/nodes.conf" ] || die "$redis: no nodes.conf on the data volume"
log "ok: redis in cluster mode, nodes.conf on the volume"
docker stop -t 10 "$redis" >/dev/null
[ "$(docker inspect -f '{{.State.ExitCode}}' "$redis")" = 0 ] || { container_log "$redis"; die "$redis: unclean stop"; }
log "ok: $redis stopped cleanly"

# --- pause ---------------------------------------------------------------------------------
PAUSE=storefront-pause:3.10
expect_user "$PAUSE" 65535:65535
version=$(docker run --rm --network none "$PAUSE" -v)
log "ok: $PAUSE reports: $version"
pause="sf-check-pause-$run_id"
containers+=("$pause")
docker run -d --name "$pause" "${HARDENED[@]}" --network none "$PAUSE" >/dev/null
poll 10 "$pause is running" test "$(docker inspect -f '{{.State.Running}}' "$pause")" = true
started=$SECONDS
docker stop -t 10 "$pause" >/dev/null
[ "$(docker inspect -f '{{.State.ExitCode}}' "$pause")" = 0 ] || { container_log "$pause"; die "$pause: exit code not 0"; }
[ $((SECONDS - started)) -lt 5 ] || die "$pause: ignored SIGTERM (killed after the grace period)"
log "ok: $pause exits 0 on SIGTERM"

# --- the API and operator images -----------------------------------------------------------
for image in "storefront-app:$TAG" "storefront-app:$TAG-dev" "storefront-operator:$TAG" "storefront-app:$TAG-broken-migration"; do
  expect_user "$image" 10001:10001
done
log "ok: every image runs as the charts' user"
log "all node images behave"
