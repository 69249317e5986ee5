#!/bin/sh
# Every image's build stage: this repository's packages into the venv, as an installer puts a
# pure-Python package (into its site-packages), compiled to bytecode at build time because the
# root filesystem is read-only at run time. No PYTHONPATH: the venv's python finds them.
#
#   install-package.sh VENV PACKAGE_DIR [PACKAGE_DIR ...]
set -eu
venv="$1"
shift
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
for package in "$@"; do
  cp -R "$package" "$site/"
  "$venv/bin/python" -m compileall -q "$site/$(basename "$package")"
done
