#!/bin/sh
# Every image's build stage: a venv at VENV with exactly the files of one hashed lock.
#
#   install-lock.sh LOCK VENV
#
# --require-hashes: only the exact files in the lock; --no-deps: the lock is complete.
# BUILD_CA_CERTS (a build argument: PEM text) is for builds behind a TLS-intercepting proxy:
# pip trusts it beside the base image's own CAs for this one command. It is written to a
# file that is removed before the step ends, and only build stages declare the argument, so
# neither the file nor the argument reaches the runtime image or its history.
set -eu
lock="$1"
venv="$2"
python -m venv "$venv"
if [ -n "${BUILD_CA_CERTS:-}" ]; then
  bundle="$(mktemp)"
  cat /etc/ssl/certs/ca-certificates.crt >"$bundle"
  printf '%s\n' "$BUILD_CA_CERTS" >>"$bundle"
  export PIP_CERT="$bundle"
fi
status=0
"$venv/bin/pip" install --no-cache-dir --disable-pip-version-check --no-deps --require-hashes \
  -r "$lock" || status=$?
[ -z "${bundle:-}" ] || rm -f "$bundle"
exit "$status"
