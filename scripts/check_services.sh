#!/usr/bin/env bash
# Makes sure the services the tests use are up: PostgreSQL 127.0.0.1:5432,
# Redis 127.0.0.1:6379, RabbitMQ 127.0.0.1:5672. Starts any that is down (as the
# machine image does), then waits for it; fails naming the one that never came up.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  case "$1" in
    postgresql) pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start ;;
    redis) redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
             --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log ;;
    rabbitmq) rabbitmq-server -detached ;;
  esac
}

status=0
for pair in postgresql:5432 redis:6379 rabbitmq:5672; do
  name=${pair%%:*}; port=${pair##*:}
  if up "$port"; then continue; fi
  echo "services: $name is down on 127.0.0.1:$port; starting it"
  start "$name" >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do up "$port" && break; sleep 1; done
  if ! up "$port"; then
    echo "services: $name did not come up on 127.0.0.1:$port" >&2
    status=1
  fi
done
exit $status
