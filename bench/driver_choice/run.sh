#!/usr/bin/env bash
# Rerun the whole benchmark (~5 min): creates the venv if missing, then runs run.py.
# Needs: python3.11, /usr/bin/wrk, PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3.11 -m venv .venv
  .venv/bin/pip install -q -r requirements.txt
fi
exec .venv/bin/python run.py "$@"
