#!/usr/bin/env bash
# Set up rcdm on a fresh machine and run it: the two commands README.md opens with.
#   bash extras/dev.sh demo   the main job end to end on the embedded DuckDB default, with bundled sample data
#   bash extras/dev.sh test   the whole test suite (Python against DuckDB, SQLite and a real PostgreSQL server,
#                             and the R package's testthat suite through reticulate); with CI set (.ci/run) it
#                             runs the suite on rcdm installed from a built wheel, then the smoke tests
#   bash extras/dev.sh lint   ruff and mypy (pyproject.toml); the test command runs them first
#   bash extras/dev.sh smoke  extras/smoke.py on Pythons 3.10, 3.12, 3.13 (pyenv), each from a built wheel
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
  # reinstall when the metadata or the compiled scanner's source changes (pip builds rcdm/dicom/*.c in place)
  want="$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT"/rcdm/dicom/*.c | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing rcdm and its test dependencies into $VENV"
    "$PY" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
    "$PY" -m pip install -q --disable-pip-version-check -e "$ROOT[test,postgresql,viewer,fuzz]"
    echo "$want" > "$stamp"
  fi
}

# --- CI: the suite against the built wheel, and a smoke test on the other supported Pythons ---------------
SMOKE_PYTHONS="${RCDM_SMOKE_PYTHONS:-3.10 3.12 3.13}"

python_for() {
  # The interpreter of Python version $1: pyenv's (newest patch release), else python$1 on PATH.
  local found
  found="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$1".*/bin/python 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$found" ]; then echo "$found"; else command -v "python$1"; fi
}

install_wheel() {
  # Build rcdm's wheel with the venv's Python ($1) and install it with extras $2 (replacing an editable install).
  local py="$1" extras="$2" dist
  dist="$(mktemp -d)"
  "$py" -m pip install -q --disable-pip-version-check --upgrade pip wheel >/dev/null
  "$py" -m pip wheel -q --disable-pip-version-check --no-deps -w "$dist" "$ROOT" >/dev/null
  "$py" -m pip uninstall -q -y rcdm >/dev/null 2>&1 || true
  "$py" -m pip install -q --disable-pip-version-check "$(ls "$dist"/rcdm-*.whl)$extras"
  rm -rf "$dist"
}

smoke_tests() {
  # Each of SMOKE_PYTHONS: a fresh venv, rcdm from a wheel built with that Python, extras/smoke.py outside the tree.
  local version py venv work
  for version in $SMOKE_PYTHONS; do
    py="$(python_for "$version")" || { log "no Python $version for the smoke test"; return 1; }
    venv="$(mktemp -d)/venv-$version"
    work="$(mktemp -d)"
    log "smoke test on Python $version ($py)"
    "$py" -m venv "$venv"
    install_wheel "$venv/bin/python" ""
    (cd "$work" && "$venv/bin/python" "$ROOT/extras/smoke.py" "$work")
    rm -rf "$venv" "$work"
  done
}

have_pg_server() {
  command -v initdb >/dev/null && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

have_r() {
  # R CMD build/check of extras/RadiologyCDM also need roxygen2 (its docs), knitr, rmarkdown and pandoc (its vignette)
  command -v Rscript >/dev/null && command -v pandoc >/dev/null && Rscript -e 'quit(status = !all(c("reticulate", "testthat", "roxygen2", "knitr", "rmarkdown") %in% rownames(installed.packages())))' >/dev/null 2>&1
}

setup_system() {
  local packages=()
  have_pg_server || packages+=(postgresql)
  have_r || packages+=(r-base-core r-cran-reticulate r-cran-testthat r-cran-roxygen2 r-cran-knitr r-cran-rmarkdown pandoc)
  [ -x /usr/bin/chromium ] || packages+=(chromium)
  [ -x /usr/sbin/Orthanc ] && compgen -G "/usr/share/orthanc/plugins/libOrthancDicomWeb.so*" >/dev/null \
    || packages+=(orthanc orthanc-dicomweb)
  command -v java >/dev/null || packages+=(openjdk-17-jre-headless)  # the local Spark Connect server of tests/test_spark.py
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

# --- lint and types: cheap, before the suite ------------------------------------------------------------
# mypy is strict on rcdm/sql, rcdm/db and rcdm/dicom (no error allowed there); elsewhere no error outside
# pyproject's per-module baseline.
MYPY_STRICT_ALLOWED="${RCDM_MYPY_STRICT_ALLOWED:-0}"

lint() {
  local out rc=0 strict rest started=$SECONDS
  "$PY" -m ruff check --no-cache "$ROOT/rcdm" "$ROOT/tests" "$ROOT/extras"
  out="$(cd "$ROOT" && "$PY" -m mypy --cache-dir "${TMPDIR:-/tmp}/rcdm-mypy-cache" 2>&1)" || rc=$?
  if [ "$rc" -gt 1 ]; then  # 2: mypy itself failed (configuration, crash)
    printf '%s\n' "$out" >&2
    return 1
  fi
  strict="$(grep -cE '^rcdm/(sql|db|dicom)(/|\.py:).*: error:' <<<"$out" || true)"
  rest="$(grep -E ': error:' <<<"$out" | grep -vE '^rcdm/(sql|db|dicom)(/|\.py:)' || true)"
  if [ -n "$rest" ]; then
    printf '%s\n' "$rest" >&2
    log "mypy: errors outside the baseline (pyproject.toml, [tool.mypy] overrides)"
    return 1
  fi
  if [ "$strict" -gt "$MYPY_STRICT_ALLOWED" ]; then
    grep -E '^rcdm/(sql|db|dicom)(/|\.py:)' <<<"$out" >&2
    log "mypy strict (rcdm/sql, rcdm/db, rcdm/dicom): $strict errors, more than the $MYPY_STRICT_ALLOWED allowed"
    return 1
  fi
  log "ruff clean; mypy: no error outside the strict packages, $strict there (allowed $MYPY_STRICT_ALLOWED); $((SECONDS - started)) s"
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
    lint
    if [ -n "${CI:-}" ]; then
      # CI tests what users install: the built wheel (python -I: not the source tree), then the other Pythons
      log "installing rcdm from a built wheel"
      install_wheel "$PY" "[test,postgresql,viewer,fuzz]"
      rm -f "$VENV/.rcdm-installed"
      "$PY" -I -m pytest -q -p no:cacheprovider "$@"
      smoke_tests
      exit 0
    fi
    exec "$PY" -m pytest -q "$@"
    ;;
  smoke)
    smoke_tests
    ;;
  lint)
    setup_python
    lint
    ;;
  setup)
    setup_python
    setup_system
    ;;
  *)
    echo "usage: bash extras/dev.sh demo|test|lint|smoke|setup [args]" >&2
    exit 2
    ;;
esac
