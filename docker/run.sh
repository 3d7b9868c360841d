#!/usr/bin/env bash
# The Makefile's docker-* targets: check the inputs, then build or run the image.
#   docker/run.sh build|report|lab|test
# Inputs are checked before Docker is called, so a mistake costs nothing: a credentials
# path that does not exist, a reports folder the container user (you) cannot write, no engine.
# Settings (environment): IMAGE, REPORTS, LAB_PORT, PROFILE, FORCE, QUIET, NO_CACHE,
# GOOGLE_APPLICATION_CREDENTIALS, CLOUDSDK_CONFIG, GOOGLE_CLOUD_PROJECT.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-bqlab:latest}"
REPORTS="${REPORTS:-reports}"
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

# The reports folder, created if missing; the container runs as you, so you must be able to write it.
reports_dir() {
  if [[ -e "$REPORTS" && ! -d "$REPORTS" ]]; then
    fail "REPORTS=$REPORTS is not a folder: remove that file or choose another REPORTS folder"
  fi
  mkdir -p "$REPORTS" 2>/dev/null || fail "cannot create the reports folder $REPORTS as user $(id -un) (uid $(id -u)): create it, or choose REPORTS=<a folder you own>"
  if [[ ! -w "$REPORTS" || ! -x "$REPORTS" ]]; then
    fail "the container runs as you (uid $(id -u)) and cannot write to $REPORTS: run \`sudo chown -R $(id -u):$(id -g) $REPORTS\`, or choose REPORTS=<a folder you own>"
  fi
  realpath "$REPORTS"
}

require_engine() {
  command -v docker >/dev/null 2>&1 ||
    fail "Docker is not installed, so make docker-* cannot run here. Run the same pipeline without a container: make report (and make test, make lab)"
  local answer
  if ! answer="$(docker info --format '{{.ServerVersion}}' 2>&1)"; then
    fail "the Docker client is installed but no Docker engine answers (${answer##*$'\n'}). Start Docker, or run without a container: make report"
  fi
}

tty_flags() {
  if [[ -t 0 && -t 1 ]]; then echo "-it"; fi
}

run_args() {  # the flags every run shares: you as the user, your reports, params and notebooks
  local reports="$1" creds="$2" mode="$3"  # mode: ro for a report, rw for Lab (edits persist)
  mkdir -p .cache
  ARGS=(--rm --user "$(id -u):$(id -g)" -e HOME=/tmp -e "BQLAB_IMAGE=$IMAGE"
    -v "$reports:$PROJECT_DIR/reports"
    -v "$PWD/.cache:$PROJECT_DIR/.cache"
    -v "$PWD/params:$PROJECT_DIR/params:$mode"
    -v "$PWD/notebooks:$PROJECT_DIR/notebooks:$mode")
  if [[ -n "$creds" ]]; then
    ARGS+=(-v "$creds:$ADC_IN_CONTAINER:ro" -e "GOOGLE_APPLICATION_CREDENTIALS=$ADC_IN_CONTAINER")
  fi
  if [[ -n "${GOOGLE_CLOUD_PROJECT:-}" ]]; then ARGS+=(-e "GOOGLE_CLOUD_PROJECT=$GOOGLE_CLOUD_PROJECT"); fi
  # shellcheck disable=SC2207
  ARGS+=($(tty_flags))
}

case "${1:-}" in
  build)
    require_engine
    source_url="$(git remote get-url origin 2>/dev/null || echo unknown)"
    version="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)"
    exec docker build --build-arg "VERSION=$version" --build-arg "SOURCE=$source_url" -t "$IMAGE" .
    ;;
  report)
    creds="$(credentials_file)"
    reports="$(reports_dir)"
    require_engine
    run_args "$reports" "$creds" ro
    exec docker run "${ARGS[@]}" "$IMAGE" make report REPORTS=reports \
      PROFILE="${PROFILE:-}" FORCE="${FORCE:-}" QUIET="${QUIET:-}" NO_CACHE="${NO_CACHE:-}"
    ;;
  lab)
    creds="$(credentials_file)"
    reports="$(reports_dir)"
    require_engine
    run_args "$reports" "$creds" rw
    token="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
    echo "JupyterLab: http://127.0.0.1:$LAB_PORT/lab?token=$token  (notebooks/ and params/ are your folders; Ctrl-C stops it)"
    exec docker run "${ARGS[@]}" -e "BQLAB_PROFILE=${PROFILE:-}" -p "127.0.0.1:$LAB_PORT:8888" "$IMAGE" \
      jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --ServerApp.root_dir="$PROJECT_DIR" \
      --LabApp.default_url=/lab/tree/notebooks --ContentsManager.pre_save_hook=bqlab.lab_save.keep_source_clean \
      --IdentityProvider.token="$token" --MultiKernelManager.default_kernel_name=bqlab
    ;;
  test)
    require_engine
    # shellcheck disable=SC2046
    exec docker run --rm $(tty_flags) "$IMAGE" make test PYTEST_ARGS="-p no:cacheprovider"
    ;;
  *)
    fail "usage: docker/run.sh build|report|lab|test"
    ;;
esac
