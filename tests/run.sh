#!/usr/bin/env bash
# Set up both environments from the lock files and run the tests:
#   .venv        the conversion toolchain (requirements/convert.txt): the whole suite
#   .venv-light  the device install, no TensorFlow (requirements/light.txt): tests marked light
# Extra arguments go to the first pytest run, e.g. `bash tests/run.sh -k runtime`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

setup() {  # venv lockfile
  [ -x "$1/bin/python" ] || "$PY" -m venv "$1"
  "$1/bin/python" -m pip install -q --disable-pip-version-check -r "$2"
  "$1/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
}

# The HTML report is checked in a real headless browser.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
    >/dev/null 2>&1 || echo "warning: could not install chromium; the browser test will fail in CI"
fi

# `bench --on ssh://` is tested against a real sshd on 127.0.0.1 (tests/sshd.py).
if ! { command -v sshd || [ -x /usr/sbin/sshd ]; } >/dev/null || ! command -v ssh >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      openssh-server openssh-client) >/dev/null 2>&1 \
      || echo "warning: could not install openssh-server; the ssh tests will fail in CI"
  fi
fi

setup .venv requirements/convert.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r requirements/no-deps.txt
setup .venv-light requirements/light.txt
export TF_CPP_MIN_LOG_LEVEL=3 TQDM_DISABLE=1
.venv/bin/ruff check edgekit tests benchmarks
.venv/bin/ruff format --check edgekit tests benchmarks docs/*.py
.venv/bin/lint-imports --no-cache  # the floors and the no-cycle rule in .importlinter
# The docs (mkdocs.yml, docs/): built with warnings as errors; their hooks and generators linted.
.venv/bin/ruff check docs
site=$(mktemp -d)  # separate commands: set -e ignores a failure inside an && list
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict -d "$site"  # not -q: it hides the warnings that --strict counts
rm -rf "$site"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" tests
EDGEKIT_LIGHT=1 .venv-light/bin/python -m pytest -q -p no:cacheprovider -m light tests
