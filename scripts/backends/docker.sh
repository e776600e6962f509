#!/usr/bin/env bash
# Docker Engine for the local_docker tests. usage: scripts/backends/docker.sh start|stop
# start: installs Debian docker.io (+ docker-registry, debootstrap) when missing, starts dockerd and
# a registry on 127.0.0.1:5050 by hand (no systemd here), and builds the test images locally
# (no image registry is reachable): local/busybox:1 and local/python-torch:2.13.0 (Debian
# bookworm python3 with torch 2.13.0 CPU). Idempotent: about a second when all is there.
set -euo pipefail
REG_PORT=${TORCHX_TEST_REGISTRY_PORT:-5050}
STATE=/run/torchx-docker-ci
mkdir -p "$STATE"

stop_pid() {  # stop_pid FILE: kill the process whose pid we recorded, if it is still ours
  [ -f "$1" ] || return 0
  local pid; pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  rm -f "$1"
}

if [ "${1:-start}" = stop ]; then
  stop_pid "$STATE/registry.pid"
  stop_pid /var/run/docker.pid   # dockerd stops the containerd it started
  exit 0
fi

if ! [ -x /usr/sbin/dockerd ] || ! command -v docker-registry >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io busybox-static debootstrap docker-registry >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  (setsid /usr/sbin/dockerd --host unix:///var/run/docker.sock --pidfile /var/run/docker.pid \
     >/var/log/dockerd-torchx.log 2>&1 &)
  for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /var/log/dockerd-torchx.log" >&2; exit 1; }
fi

if ! (exec 3<>"/dev/tcp/127.0.0.1/$REG_PORT") 2>/dev/null; then
  mkdir -p "$STATE/registry"
  cat >"$STATE/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REG_PORT
log:
  level: error
YML
  (setsid docker-registry serve "$STATE/registry.yml" >"$STATE/registry.log" 2>&1 & echo $! >"$STATE/registry.pid")
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$REG_PORT") 2>/dev/null && break; sleep 0.1; done
fi

if ! docker image inspect local/busybox:1 >/dev/null 2>&1; then
  r=$(mktemp -d); mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/proc" "$r/sys" "$r/dev"
  cp /bin/busybox "$r/bin/"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
  tar -C "$r" -c . | docker import -c 'ENV PATH=/bin' - local/busybox:1 >/dev/null
  rm -rf "$r"
fi

if ! docker image inspect local/python-torch:2.13.0 >/dev/null 2>&1; then
  echo "building local/python-torch:2.13.0 (debootstrap + torch CPU, about 2 min)" >&2
  r=$(mktemp -d)
  # the Debian mirror this machine's apt already uses (first URIs/deb line of its sources)
  mirror=$(grep -hs -m1 -oP '^URIs:\s*\K\S+' /etc/apt/sources.list.d/*.sources | head -n1)
  [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$mirror" ] || { echo "no Debian mirror in /etc/apt sources for debootstrap" >&2; exit 1; }
  debootstrap --variant=minbase --include=python3 bookworm "$r" "$mirror" >/dev/null
  site="$r/usr/local/lib/python3.11/dist-packages"
  # torch 2.13.0 CPU is the one torch wheel on this machine's disk (pip's find-links)
  "$(dirname "$0")/../../.venv/bin/pip" install -q --no-compile --target "$site" torch==2.13.0 numpy \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
  printf '#!/usr/bin/python3\nimport sys\nfrom torch.distributed.run import main\nsys.exit(main())\n' \
    >"$r/usr/local/bin/torchrun"
  chmod +x "$r/usr/local/bin/torchrun"
  ln -sf python3 "$r/usr/bin/python"
  rm -rf "$r/var/cache/apt/archives"/*.deb "$r/var/lib/apt/lists"/* "$site/bin"
  tar -C "$r" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' -c 'WORKDIR /' - local/python-torch:2.13.0 >/dev/null
  rm -rf "$r"
fi
docker run --rm local/busybox:1 echo docker-ok >/dev/null
