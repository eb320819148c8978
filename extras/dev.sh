#!/usr/bin/env bash
# Set up rcdm on a fresh machine and run it: the two commands README.md opens with.
#   bash extras/dev.sh demo   the main job end to end on the embedded DuckDB default, with bundled sample data
#   bash extras/dev.sh test   the whole test suite (Python against DuckDB, SQLite and a real PostgreSQL server,
#                             and the R package's testthat suite through reticulate)
# Everything they need is installed here: a virtual environment with rcdm and its test extras, and the
# Debian packages (a PostgreSQL server, R with reticulate and testthat, Chromium) when missing. RCDM_VENV overrides the venv folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RCDM_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

log() { printf '[rcdm dev] %s\n' "$*" >&2; }

apt_install() {
  # Install Debian packages as root (directly or through sudo); apt-get update once per run.
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { log "need root or sudo to install: $*"; return 1; }
    sudo="sudo"
  fi
  if [ -z "${_APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq >/dev/null
    _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

setup_python() {
  if [ ! -x "$PY" ]; then
    log "creating virtual environment $VENV"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.rcdm-installed" want
  # reinstall when the metadata or the compiled scanner's source changes (pip builds rcdm/dicom/_scan.c in place)
  want="$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT/rcdm/dicom/_scan.c" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing rcdm and its test dependencies into $VENV"
    "$PY" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
    "$PY" -m pip install -q --disable-pip-version-check -e "$ROOT[test,postgresql,viewer,fuzz]"
    echo "$want" > "$stamp"
  fi
}

have_pg_server() {
  command -v initdb >/dev/null && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

have_r() {
  command -v Rscript >/dev/null && Rscript -e 'quit(status = !all(c("reticulate", "testthat") %in% rownames(installed.packages())))' >/dev/null 2>&1
}

setup_system() {
  local packages=()
  have_pg_server || packages+=(postgresql)
  have_r || packages+=(r-base-core r-cran-reticulate r-cran-testthat)
  [ -x /usr/bin/chromium ] || packages+=(chromium)
  # clang: tests/test_dicom_fuzz.py builds the header scanner with libFuzzer coverage and ASan/UBSan
  command -v clang >/dev/null || compgen -G "/usr/bin/clang-[0-9]*" >/dev/null || packages+=(clang)
  if [ "${#packages[@]}" -gt 0 ]; then
    log "installing Debian packages: ${packages[*]}"
    apt_install "${packages[@]}"
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home postgres
  fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
  demo)
    setup_python
    cd "$ROOT"
    exec "$VENV/bin/rcdm" demo "$@"
    ;;
  test)
    setup_python
    setup_system
    cd "$ROOT"
    exec "$PY" -m pytest -q "$@"
    ;;
  setup)
    setup_python
    setup_system
    ;;
  *)
    echo "usage: bash extras/dev.sh demo|test|setup [args]" >&2
    exit 2
    ;;
esac
