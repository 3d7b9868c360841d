#!/usr/bin/env bash
# The Makefile's docker-* targets: check the inputs, then build or run the image.
#   docker/run.sh build|report|lab|test
# Inputs are checked before the engine is called, so a mistake costs nothing: a credentials
# path that does not exist, a reports folder the container user (you) cannot write, no engine,
# no image.
# Settings (environment): BASE (real or twin), IMAGE, CONTAINER_ENGINE (docker or podman;
# found when unset), CONTAINER_NAME, RUN_AS (uid:gid, you by default), REPORTS, LAB_PORT,
# PROFILE, FORCE, QUIET, NO_CACHE, PYTEST_ARGS, GOOGLE_APPLICATION_CREDENTIALS, CLOUDSDK_CONFIG,
# GOOGLE_CLOUD_PROJECT, JUPYTER_TOKEN; with podman, CONTAINERS_CONF (see require_engine).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE="${BASE:-real}"
case "$BASE" in
  real) IMAGE="${IMAGE:-bqlab:latest}" ;;
  twin) IMAGE="${IMAGE:-bqlab:twin}" ;;
  *) echo "error: BASE=$BASE: choose BASE=real (the micromamba image) or BASE=twin (the Debian twin)" >&2; exit 2 ;;
esac
REPORTS="${REPORTS:-reports}"
PARAMS="${PARAMS:-params}"
NOTEBOOKS="${NOTEBOOKS:-notebooks}"
LAB_PORT="${LAB_PORT:-8888}"
PROJECT_DIR=/home/mambauser/project
ADC_IN_CONTAINER=/run/secrets/google/application_default_credentials.json

fail() {
  echo "error: $*" >&2
  exit 2
}

# The credentials file to mount read-only, or nothing: GOOGLE_APPLICATION_CREDENTIALS when
# set (it must exist), else gcloud's Application Default Credentials file when present.
credentials_file() {
  if [[ -n "${GOOGLE_APPLICATION_CREDENTIALS:-}" ]]; then
    [[ -f "$GOOGLE_APPLICATION_CREDENTIALS" && -r "$GOOGLE_APPLICATION_CREDENTIALS" ]] ||
      fail "GOOGLE_APPLICATION_CREDENTIALS=$GOOGLE_APPLICATION_CREDENTIALS is not a readable file: point it at your service-account key, or unset it and run \`gcloud auth application-default login\`"
    realpath "$GOOGLE_APPLICATION_CREDENTIALS"
    return
  fi
  local adc="${CLOUDSDK_CONFIG:-$HOME/.config/gcloud}/application_default_credentials.json"
  if [[ -f "$adc" ]]; then realpath "$adc"; fi
}

# The container's user: you, or RUN_AS=uid:gid.
run_as() {
  local user="${RUN_AS:-$(id -u):$(id -g)}"
  [[ "$user" =~ ^[0-9]+:[0-9]+$ ]] || fail "RUN_AS=$user: give the container's user as uid:gid in numbers, such as RUN_AS=1000:1000"
  echo "$user"
}

# The reports folder, created if missing; the container's user must be able to write it.
reports_dir() {
  local user="$1" uid="${1%%:*}"
  if [[ "$REPORTS" == *:* ]]; then
    fail "REPORTS=$REPORTS: the container's reports are a folder mounted from here; to keep runs in a bucket, run make report REPORTS=gs://<bucket>/<folder> outside the container, or the cloud job of bqlab sweep --emit"
  fi
  if [[ -e "$REPORTS" && ! -d "$REPORTS" ]]; then
    fail "REPORTS=$REPORTS is not a folder: remove that file or choose another REPORTS folder"
  fi
  mkdir -p "$REPORTS" 2>/dev/null || fail "cannot create the reports folder $REPORTS as user $(id -un) (uid $(id -u)): create it, or choose REPORTS=<a folder you own>"
  if [[ "$uid" == "$(id -u)" ]]; then
    if [[ ! -w "$REPORTS" || ! -x "$REPORTS" ]]; then
      fail "the container runs as you (uid $uid) and cannot write to $REPORTS: run \`sudo chown -R $(id -u):$(id -g) $REPORTS\`, or choose REPORTS=<a folder you own>"
    fi
  elif [[ "$(stat -c %u "$REPORTS")" != "$uid" && "$(stat -c %A "$REPORTS")" != *w? ]]; then
    fail "the container runs as uid $uid (RUN_AS) and cannot write to $REPORTS: run \`sudo chown -R $user $REPORTS\`, or choose REPORTS=<a folder uid $uid owns>"
  fi
  realpath "$REPORTS"
}

# ENGINE: CONTAINER_ENGINE, else Docker when its engine answers, else podman.
require_engine() {
  ENGINE="${CONTAINER_ENGINE:-}"
  case "$ENGINE" in
    docker | podman) ;;
    "")
      if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        ENGINE=docker
      elif command -v podman >/dev/null 2>&1; then
        ENGINE=podman
      elif command -v docker >/dev/null 2>&1; then
        ENGINE=docker  # the client alone: its own check below says why it cannot run
      fi
      ;;
    *) fail "CONTAINER_ENGINE=$ENGINE: choose docker or podman, or leave it unset to find one" ;;
  esac
  [[ -n "$ENGINE" ]] ||
    fail "Neither Docker nor podman is installed, so make docker-* cannot run here. Install Docker, or podman (sudo apt-get install podman runc), or run the same pipeline without a container: make report (and make test, make lab)"
  command -v "$ENGINE" >/dev/null 2>&1 ||
    fail "CONTAINER_ENGINE=$ENGINE, but $ENGINE is not installed: install it, leave CONTAINER_ENGINE unset to use the engine that is, or run without a container: make report"
  if [[ "$ENGINE" == podman ]]; then
    # The settings podman needs on machines like these, unless you give your own.
    # Only where podman's defaults fail (hybrid or v1 cgroups: crun refuses them), and only
    # unless you give your own file: CONTAINERS_CONF replaces the machine's files for this call.
    if [[ -z "${CONTAINERS_CONF:-}" && "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]]; then
      export CONTAINERS_CONF="$PWD/docker/containers.conf"
    fi
  fi
  local answer
  if ! answer="$("$ENGINE" info 2>&1 >/dev/null)"; then
    if [[ "$ENGINE" == podman ]]; then
      fail "podman cannot run here (${answer##*$'\n'}). Check its runtime and settings (this project's are docker/containers.conf: set CONTAINERS_CONF to use them, or your own), or run without a container: make report"
    fi
    fail "the $ENGINE client is installed but no $ENGINE engine answers (${answer##*$'\n'}). Start it, or run without a container: make report"
  fi
}

# The image must exist before it runs: say how to build it.
require_image() {
  "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1 ||
    fail "no image $IMAGE in $ENGINE: build it with make docker-build$([[ $BASE == twin ]] && echo -twin) (or set IMAGE=<an image you built>)"
}

folder() {  # a folder to mount: it must exist
  [[ -d "$2" ]] || fail "$1=$2 is not a folder: give the folder that holds your ${1,,} (default ${1,,}/)"
  realpath "$2"
}

tty_flags() {
  if [[ -t 0 && -t 1 ]]; then echo "-it"; fi
}

run_args() {  # the flags every run shares: you as the user, your reports, params and notebooks
  local reports="$1" creds="$2" mode="$3"  # mode: ro for a report, rw for Lab (edits persist)
  local params notebooks
  params="$(folder PARAMS "$PARAMS")"  # an assignment, so that a refusal stops the script
  notebooks="$(folder NOTEBOOKS "$NOTEBOOKS")"
  mkdir -p .cache
  ARGS=(--rm --user "$RUN_USER" -e HOME=/tmp -e "BQLAB_IMAGE=$IMAGE"
    -v "$reports:$PROJECT_DIR/reports"
    -v "$PWD/.cache:$PROJECT_DIR/.cache"
    -v "$params:$PROJECT_DIR/params:$mode"
    -v "$notebooks:$PROJECT_DIR/notebooks:$mode")
  if [[ -n "$creds" ]]; then
    ARGS+=(-v "$creds:$ADC_IN_CONTAINER:ro" -e "GOOGLE_APPLICATION_CREDENTIALS=$ADC_IN_CONTAINER")
  fi
  if [[ -n "${GOOGLE_CLOUD_PROJECT:-}" ]]; then ARGS+=(-e "GOOGLE_CLOUD_PROJECT=$GOOGLE_CLOUD_PROJECT"); fi
  if [[ -n "${CONTAINER_NAME:-}" ]]; then ARGS+=(--name "$CONTAINER_NAME"); fi
  # Rootless podman maps uids: keep yours, so the files written are yours (not run here: the
  # tests use rootful podman).
  if [[ "$ENGINE" == podman && "$(podman info --format '{{.Host.Security.Rootless}}' 2>/dev/null)" == true ]]; then
    ARGS+=(--userns=keep-id)
  fi
  # shellcheck disable=SC2207
  ARGS+=($(tty_flags))
}

case "${1:-}" in
  build)
    require_engine
    source_url="$(git remote get-url origin 2>/dev/null || echo unknown)"
    version="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)"
    commit="$(git rev-parse --short=12 HEAD 2>/dev/null || true)"
    if [[ -n "$commit" && -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then commit+="-dirty"; fi
    build=(build --build-arg "VERSION=$version" --build-arg "SOURCE=$source_url" --build-arg "COMMIT=$commit" -t "$IMAGE")
    if [[ "$BASE" == twin ]]; then
      # The twin's base holds the Python environment.yml pins, under a tag that names it and
      # the script that makes it: a change to either makes a new base.
      python="$(sed -n 's/^ *- python=\([0-9.]*\)$/\1/p' environment.yml)"
      TWIN_BASE="bqlab-twin-base:$python-$(sha256sum docker/twin-base.sh | cut -c1-8)"
      docker/twin-base.sh "$ENGINE" "$TWIN_BASE"
      build+=(--build-arg "BASE_IMAGE=$TWIN_BASE" --build-arg ENV_INSTALL=pip --network host)
      # pip reaches PyPI through whatever proxy this machine trusts: its CA bundle is mounted
      # for the build only (podman can; docker build cannot mount, and needs no proxy CA).
      host_ca=/etc/ssl/certs/ca-certificates.crt
      if [[ "$ENGINE" == podman && -r "$host_ca" ]]; then
        build+=(-v "$host_ca:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
      fi
    fi
    # podman writes OCI images by default, which drop the base's SHELL (micromamba's activation).
    if [[ "$ENGINE" == podman ]]; then build+=(--format docker); fi
    if ! "$ENGINE" "${build[@]}" .; then
      if [[ "$BASE" == real ]]; then
        echo "error: the image did not build. The real image needs docker.io (its base) and conda-forge (its environment): if the error above is about reaching them, build the twin instead: make docker-build-twin" >&2
      fi
      exit 2
    fi
    if [[ "$BASE" == twin ]]; then
      echo "built $IMAGE: run the targets on it with BASE=twin$([[ $IMAGE != bqlab:twin ]] && echo " IMAGE=$IMAGE") (make docker-report BASE=twin ...)"
    fi
    ;;
  report)
    creds="$(credentials_file)"
    RUN_USER="$(run_as)"
    reports="$(reports_dir "$RUN_USER")"
    require_engine
    require_image
    run_args "$reports" "$creds" ro
    exec "$ENGINE" run "${ARGS[@]}" "$IMAGE" make report REPORTS=reports \
      PROFILE="${PROFILE:-}" FORCE="${FORCE:-}" QUIET="${QUIET:-}" NO_CACHE="${NO_CACHE:-}"
    ;;
  lab)
    creds="$(credentials_file)"
    RUN_USER="$(run_as)"
    reports="$(reports_dir "$RUN_USER")"
    require_engine
    require_image
    run_args "$reports" "$creds" rw
    token="${JUPYTER_TOKEN:-$(python3 -c 'import secrets; print(secrets.token_hex(24))')}"  # yours, or a new one
    echo "JupyterLab: http://127.0.0.1:$LAB_PORT/lab?token=$token  (notebooks/ and params/ are your folders; Ctrl-C stops it)"
    # JupyterLab refuses root unless told: the container runs as root only when you are root.
    allow_root=()
    if [[ "$RUN_USER" == 0:* ]]; then allow_root=(--allow-root); fi
    exec "$ENGINE" run "${ARGS[@]}" -e "BQLAB_PROFILE=${PROFILE:-}" -p "127.0.0.1:$LAB_PORT:8888" "$IMAGE" \
      jupyter lab "${allow_root[@]}" --ip=0.0.0.0 --port=8888 --no-browser --ServerApp.root_dir="$PROJECT_DIR" \
      --LabApp.default_url=/lab/tree/notebooks --ContentsManager.pre_save_hook=bqlab.lab_save.keep_source_clean \
      --IdentityProvider.token="$token" --MultiKernelManager.default_kernel_name=bqlab
    ;;
  test)
    require_engine
    require_image
    # The fast suite: the image holds no browser, emulator or git checkout for the rest.
    # shellcheck disable=SC2046
    exec "$ENGINE" run --rm $(tty_flags) "$IMAGE" make test-fast PYTEST_ARGS="-p no:cacheprovider ${PYTEST_ARGS:-}"
    ;;
  *)
    fail "usage: docker/run.sh build|report|lab|test"
    ;;
esac
