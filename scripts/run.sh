#!/usr/bin/env bash
# Runs the whole assistant on the embedded default: action server, Rasa server,
# feedback consumer and the web page. Ctrl-C (or SIGTERM) stops all of them.
# Logs go to var/log/<process>.log. Ports: SHOP_ACTION_PORT (5055),
# SHOP_RASA_PORT (5005), SHOP_WEB_PORT (8000).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 SANIC_HOST=127.0.0.1 \
    RASA_TELEMETRY_ENABLED=false  # no usage data or crash reports sent to Rasa
ACTION_PORT=${SHOP_ACTION_PORT:-5055}
RASA_PORT=${SHOP_RASA_PORT:-5005}
export SHOP_WEB_PORT=${SHOP_WEB_PORT:-8000}
export SHOP_RASA_URL=${SHOP_RASA_URL:-http://127.0.0.1:$RASA_PORT}
mkdir -p var/log

# Settings are read (and checked) once here, so a bad value stops us before anything
# starts, with a message naming the variable.
token=$(.venv/bin/python -m crm_models.settings) || {
  echo "run: the settings are not valid (see the message above)" >&2; exit 1; }

for port in "$ACTION_PORT" "$RASA_PORT" "$SHOP_WEB_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "run: port $port is already in use (another 'make run'?). Stop that, or choose" >&2
    echo "     other ports: SHOP_RASA_PORT, SHOP_ACTION_PORT, SHOP_WEB_PORT." >&2
    exit 1
  fi
done

# Rasa reaches the action server through the endpoints file: point it at our port.
sed "s#http://127.0.0.1:5055/webhook#http://127.0.0.1:$ACTION_PORT/webhook#" \
  endpoints.yml > var/endpoints.run.yml

pids=()
names=()

stop() {
  trap - INT TERM EXIT
  echo
  echo "run: stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  echo "run: stopped"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

start() {  # $1 = name, rest = command
  local name=$1; shift
  "$@" >"var/log/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

wait_for() {  # $1 = name, $2 = url, $3 = seconds
  for _ in $(seq 1 "$3"); do
    if curl -fsS -o /dev/null "$2" 2>/dev/null; then return 0; fi
    for i in "${!pids[@]}"; do
      if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        echo "run: ${names[$i]} exited; the end of var/log/${names[$i]}.log:" >&2
        tail -n 20 "var/log/${names[$i]}.log" >&2
        exit 1
      fi
    done
    sleep 1
  done
  echo "run: $1 did not answer at $2 within $3 s; see var/log/$1.log" >&2
  exit 1
}

echo "run: starting the action server, Rasa, the feedback consumer and the web page"
start actions .venv/bin/python -m rasa_sdk --actions actions --port "$ACTION_PORT"
start rasa .venv-bot/bin/rasa run --model models/rasa/shop.tar.gz --endpoints var/endpoints.run.yml \
  --credentials bot/credentials.yml --enable-api --auth-token="$token" --cors "*" \
  --interface 127.0.0.1 --port "$RASA_PORT"
start feedback .venv/bin/python -m crm_models.feedback.consumer --follow
start web .venv/bin/python -m web

wait_for actions "http://127.0.0.1:$ACTION_PORT/health" 60
wait_for web "http://127.0.0.1:$SHOP_WEB_PORT/healthz" 60
wait_for rasa "http://127.0.0.1:$RASA_PORT/status?token=$token" 180
demo_login=$(.venv/bin/python -m web.console.agents demo)

cat <<MSG

  Shop with the chat widget   http://127.0.0.1:$SHOP_WEB_PORT/
  Agent console               http://127.0.0.1:$SHOP_WEB_PORT/console  (login: $demo_login)
  Rasa server (REST, socket.io, HTTP API with the token in var/rasa_token)
                              http://127.0.0.1:$RASA_PORT/
  Action server               http://127.0.0.1:$ACTION_PORT/webhook
  Logs                        var/log/

  Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
# On Ctrl-C every service gets SIGINT too and may end before this shell runs its
# trap; a moment's pause lets the trap stop everything quietly first.
sleep 1
for i in "${!pids[@]}"; do
  kill -0 "${pids[$i]}" 2>/dev/null || echo "run: ${names[$i]} stopped unexpectedly; see var/log/${names[$i]}.log" >&2
done
exit 1
