# shellcheck shell=bash
# Shell functions shared by the test scripts (test.sh and the stage scripts it runs) and
# bench/ (run.sh, soak.sh): a free loopback port, a throwaway PostgreSQL cluster and a
# moto server (S3 + DynamoDB) on such ports, and a private Docker engine.
MOTO_PID=""
PG_DATA=""
PG_ROOT=""
AWSCLI_VERSION="1.46.3"

# The AWS CLI the deploy scripts call (deploy/scripts/deploy, the drills, the swarm step),
# in a venv of its own (it pins its own botocore): installed when missing, its path
# printed. Usage: AWS_CLI="$(ensure_aws_cli ROOT)"
ensure_aws_cli() {
  local aws_venv="${PIER_AWS_VENV:-$1/target/aws-venv}"
  if ! "$aws_venv/bin/aws" --version 2>/dev/null | grep "aws-cli/$AWSCLI_VERSION " >/dev/null; then
    python3 -m venv "$aws_venv" >&2
    "$aws_venv/bin/pip" install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION" >&2
  fi
  echo "$aws_venv/bin/aws"
}

# Runs COMMAND... every 0.1 s until it succeeds, for at most SECONDS; returns 1 when
# it never did. The test scripts' one polling loop (output of the tries is dropped).
wait_until() { # seconds command...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# Installs the Debian PACKAGE(s) when PROBE is missing: a command name, or an absolute
# path (a glob) for a file. Returns 1, naming the packages, when they cannot be installed. The
# test scripts' one way of getting a tool a fresh machine lacks.
ensure_debian_package() { # probe package...
  local probe="$1"; shift
  present() { if [[ "$probe" == /* ]]; then compgen -G "$probe" >/dev/null; else command -v "$probe" >/dev/null; fi; }
  present && return 0
  echo "installing Debian's $* ($probe is missing)"
  apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; } || true
  present || { echo "cannot install $* (apt-get install $*): $probe is needed" >&2; return 1; }
}

# Whether something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1"
}

# Whether BINARY (a pier) finds URL answering 200 (`pier healthcheck`).
pier_answers() { # binary url
  "$1" healthcheck --url "$2"
}

# Builds the pier of an earlier commit for a side-by-side benchmark: a detached
# worktree under the scratch directory, its own target directory (target/baseline, kept between runs
# so a second run only rebuilds what changed), the worktree removed after. Prints the
# binary's path on its last line.
build_baseline() { # ref scratch_dir
  local ref="$1" scratch="$2" root
  root="$(git rev-parse --show-toplevel)"
  echo "==> building the baseline $ref (a worktree, its own target directory)" >&2
  git -C "$root" worktree add --detach -f "$scratch/baseline-src" "$ref" >/dev/null
  (cd "$scratch/baseline-src" && CARGO_TARGET_DIR="$root/target/baseline" cargo build --release --locked --bin pier) >&2
  git -C "$root" worktree remove --force "$scratch/baseline-src"
  echo "$root/target/baseline/release/pier"
}

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# initdb refuses to run as root: run the server tools as `postgres` then.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# One PostgreSQL cluster and one moto server (S3 + DynamoDB) on free loopback ports,
# shared by the backend-matrix runs of the API suite; each test makes its own
# database, bucket and table in them.
#
# Needs: WORK (a temporary directory), VENV (with moto[server]).
# Sets: PIER_TEST_POSTGRES_URL, PIER_TEST_AWS_ENDPOINT; stop_shared_servers stops both.
# PG_FSYNC=off (the default, for tests) or on (benchmarks).
start_shared_servers() {
  PG_BIN="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  # Its own directory: the server user must be able to reach it.
  PG_ROOT="$(mktemp -d -t pier-pg.XXXXXX)"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_ROOT"; fi
  PG_DATA="$PG_ROOT/data"
  local pg_port; pg_port="$(free_port)"
  as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --no-sync >"$WORK/pg-initdb.log" 2>&1 \
    || { cat "$WORK/pg-initdb.log" >&2; echo "initdb failed" >&2; return 1; }
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -l "$PG_ROOT/server.log" \
    -o "-p $pg_port -k $PG_ROOT -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=${PG_FSYNC:-off}" start >/dev/null \
    || { cat "$PG_ROOT/server.log" >&2; echo "PostgreSQL did not start" >&2; return 1; }
  export PIER_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
  local moto_port; moto_port="$(free_port)"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$WORK/moto.log" 2>&1 &
  MOTO_PID=$!
  wait_until 20 port_open "$moto_port" \
    || { cat "$WORK/moto.log" >&2; echo "moto_server did not start within 20 s" >&2; return 1; }
  export PIER_TEST_AWS_ENDPOINT="http://127.0.0.1:$moto_port"
  echo "PostgreSQL on 127.0.0.1:$pg_port, moto (S3, DynamoDB) on 127.0.0.1:$moto_port"
}

# The shared servers, unless a stage before this one started them.
ensure_shared_servers() {
  [ -n "$PG_DATA" ] || start_shared_servers
}

stop_shared_servers() {
  if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; MOTO_PID=""; fi
  if [ -n "$PG_DATA" ]; then as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PG_ROOT"; PG_DATA=""; fi
}

# A private Docker engine: Debian's docker.io (installed when missing), dockerd with its
# own data root, exec root and socket under a temp dir; DOCKER_HOST points at it.
# stop_docker_engine stops it and removes everything it made.
DOCKERD_PID=""
DOCKER_ROOT=""
start_docker_engine() {
  ensure_debian_package dockerd docker.io || return 1
  DOCKER_ROOT="$(mktemp -d -t pier-docker.XXXXXX)"
  dockerd --data-root "$DOCKER_ROOT/data" --exec-root "$DOCKER_ROOT/exec" \
    -H "unix://$DOCKER_ROOT/docker.sock" --pidfile "$DOCKER_ROOT/docker.pid" \
    >"$DOCKER_ROOT/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$DOCKER_ROOT/docker.sock"
  wait_until 30 docker version || true
  docker version --format 'Docker engine {{.Server.Version}} on {{.Server.Os}}' \
    || { tail -20 "$DOCKER_ROOT/dockerd.log" >&2; echo "dockerd did not start" >&2; return 1; }
}

stop_docker_engine() {
  if [ -n "$DOCKERD_PID" ]; then
    docker ps -aq 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1 || true
    kill "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=""
  fi
  if [ -n "$DOCKER_ROOT" ]; then
    # Container layers may still be mounted under the data root.
    grep -o " ${DOCKER_ROOT}[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$DOCKER_ROOT" 2>/dev/null || true
    DOCKER_ROOT=""
  fi
}
