#!/usr/bin/env bash
# Builds the two Python environments from the pinned requirements:
#   .venv-bot  Rasa 3.6.21 on Python 3.10 (requirements/bot.txt)
#   .venv      everything else on Python 3.11 (requirements/torch.txt, then app.txt)
# Usage: scripts/setup_envs.sh bot|app
# pip's own output goes to var/log/setup-<env>.log; a failure prints its tail.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/log

find_python() {  # $1 = version, e.g. 3.10
  local v="$1" candidate root
  if candidate=$(command -v "python$v" 2>/dev/null) && "$candidate" -c 'import sys, venv' 2>/dev/null \
     && [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$v" ]; then
    echo "$candidate"; return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
    for candidate in $(ls -d "$root"/versions/"$v"* 2>/dev/null | sort -V -r); do
      if [ -x "$candidate/bin/python$v" ]; then echo "$candidate/bin/python$v"; return 0; fi
    done
  fi
  return 1
}

build() {  # $1 = venv dir, $2 = python, rest = pip install argument groups separated by --
  local dir="$1" py="$2" log="var/log/setup-$(basename "$1").log"
  shift 2
  rm -rf "$dir"
  "$py" -m venv "$dir"
  {
    "$dir/bin/python" -m pip install --upgrade "pip==24.3.1"
    local group=()
    for arg in "$@" --; do
      if [ "$arg" = "--" ]; then
        [ ${#group[@]} -gt 0 ] && "$dir/bin/python" -m pip install "${group[@]}"
        group=()
      else
        group+=("$arg")
      fi
    done
  } >"$log" 2>&1 || {
    grep -v "is ignored: it is neither" "$log" | tail -n 30 >&2
    echo "setup: installing $dir failed; full log in $log" >&2
    rm -rf "$dir"
    exit 1
  }
}

case "${1:-}" in
  bot)
    py=$(find_python 3.10) || {
      echo "setup: Rasa 3.6 needs Python 3.10, and none was found (looked for python3.10" >&2
      echo "on PATH and in pyenv's versions). Install it, e.g. 'pyenv install 3.10'," >&2
      echo "or 'apt-get install python3.10 python3.10-venv', then run make again." >&2
      exit 1
    }
    echo "setup: building .venv-bot with $py"
    build .venv-bot "$py" -r requirements/bot.txt
    ;;
  app)
    py=$(find_python 3.11) || {
      echo "setup: the action server needs Python 3.11, and none was found (looked for" >&2
      echo "python3.11 on PATH and in pyenv's versions). Install it and run make again." >&2
      exit 1
    }
    echo "setup: building .venv with $py"
    # torch first, from its pinned CPU build, so nothing later pulls a CUDA build.
    build .venv "$py" -r requirements/torch.txt -- -r requirements/app.txt
    ;;
  *)
    echo "usage: $0 bot|app" >&2; exit 2 ;;
esac
