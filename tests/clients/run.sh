#!/usr/bin/env bash
# Real-client interoperability test for berth.
#
# Starts the real registry (berth by default, or CNCF distribution with
# REGISTRY_UNDER_TEST=distribution), a private Docker engine (vfs, no network,
# everything in a temp dir), and drives docker, containerd (ctr), skopeo,
# podman and buildah against it. Test images are built locally from
# busybox-static (umoci OCI layout, docker build FROM scratch, buildah from
# scratch): nothing is pulled from the internet.
#
# Usage (as root):  tests/clients/run.sh
# Env:
#   BERTH_BIN            berth binary (default <repo>/target/debug/berth; relative
#                        paths are taken relative to the repo root)
#   REGISTRY_UNDER_TEST  berth (default) | distribution
#   CLIENT_TIMEOUT       seconds allowed for one client command (default 120)
#   KEEP_WORKDIR=1       keep the temp dir (logs, layouts) after the run
#
# Output: one PASS/FAIL line per named check (failures followed by the check's
# own output and the registry log lines written during it), then a last line
# "N passed, N failed". Exit status 1 if any check failed.

set -uo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BERTH_BIN=${BERTH_BIN:-target/debug/berth}
case $BERTH_BIN in /*) ;; *) BERTH_BIN=$ROOT/$BERTH_BIN ;; esac
REGISTRY_UNDER_TEST=${REGISTRY_UNDER_TEST:-berth}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-120}

say() { printf '%s\n' "$*"; }

# ---------------------------------------------------------------- installs --
ensure_packages() {
    local want=(docker.io containerd runc skopeo podman buildah umoci busybox-static
                uidmap jq curl python3 coreutils)
    [[ $REGISTRY_UNDER_TEST == distribution ]] && want+=(docker-registry)
    local missing=() p
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]})); then
        say "==> installing: ${missing[*]}"
        apt-get update -q >/dev/null || { say "apt-get update failed"; return 1; }
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
            { say "apt-get install ${missing[*]} failed"; return 1; }
    fi
    local t
    for t in /usr/bin/docker dockerd containerd ctr runc skopeo podman buildah umoci jq curl python3 timeout; do
        command -v "$t" >/dev/null || { say "required tool missing after install: $t"; return 1; }
    done
    [[ -x /bin/busybox ]] || { say "/bin/busybox missing"; return 1; }
    if [[ $REGISTRY_UNDER_TEST == distribution ]]; then
        command -v docker-registry >/dev/null || { say "docker-registry missing"; return 1; }
    fi
}

if [[ $(id -u) != 0 ]]; then say "must run as root"; say "0 passed, 1 failed"; exit 1; fi
ensure_packages || { say "0 passed, 1 failed"; exit 1; }

# ---------------------------------------------------------------- workdir ---
W=$(mktemp -d /tmp/berth-clients.XXXXXX)
mkdir -p "$W/checks" "$W/state"
REG_PID='' DOCKERD_PID=''
REG_LOG=$W/registry.log
: >"$REG_LOG"

stop_pid() { # pid [seconds]
    local pid=$1 n=$((${2:-10} * 10))
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    while ((n-- > 0)) && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

cleanup() {
    set +e
    trap - EXIT INT TERM
    stop_pid "$REG_PID" 10
    if [[ -n $DOCKERD_PID ]]; then
        local cpid=''
        [[ -f $W/exec/containerd/containerd.pid ]] && cpid=$(cat "$W/exec/containerd/containerd.pid" 2>/dev/null)
        stop_pid "$DOCKERD_PID" 20      # stops its containerd too
        [[ -n $cpid ]] && stop_pid "$cpid" 5
    fi
    # containerd shims left behind by a killed engine
    local p
    for p in $(pgrep -f "containerd-shim.*$W" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    # anything still mounted under the work dir (netns, shm, overlay)
    grep -F " $W/" /proc/mounts 2>/dev/null | awk '{print $2}' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    if [[ ${KEEP_WORKDIR:-0} == 1 ]]; then say "work dir kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- checks ----
PASS=0 FAIL=0 NCHECK=0
FAILED=()

# run_check NAME FUNCTION [ARGS...]: runs FUNCTION in a subshell with `set -e`
# and xtrace, output to a per-check log. State shared between checks goes
# through files in $W/state.
run_check() {
    local name=$1; shift
    NCHECK=$((NCHECK + 1))
    local log=$W/checks/$NCHECK.log start t0=$SECONDS rc
    start=$(stat -c %s "$REG_LOG" 2>/dev/null || echo 0)
    ( set -ex; "$@" ) >"$log" 2>&1 </dev/null
    rc=$?
    if ((rc == 0)); then
        PASS=$((PASS + 1))
        say "PASS  $name ($((SECONDS - t0))s)"
    else
        FAIL=$((FAIL + 1))
        FAILED+=("$name")
        say "FAIL  $name (exit $rc, $((SECONDS - t0))s)"
        tail -n 60 "$log" | sed 's/^/    | /'
        local rl
        rl=$(tail -c +"$((start + 1))" "$REG_LOG" 2>/dev/null | tail -n 40)
        if [[ -n $rl ]]; then
            say "    registry log during this check (last 40 lines):"
            printf '%s\n' "$rl" | sed 's/^/    R /'
        fi
    fi
}

# cap CMD...: run CMD, keep its combined output in $OUT and copy it to the check log.
cap() { local rc=0; OUT=$("$@" 2>&1) || rc=$?; printf '%s\n' "$OUT"; return $rc; }
fail() { echo "ASSERTION FAILED: $*" >&2; return 1; }
assert_eq() { # actual expected what
    [[ $1 == "$2" ]] || fail "${3:-value}: expected [$2], got [$1]"
}
assert_contains() { # haystack needle what
    [[ $1 == *"$2"* ]] || fail "${3:-output} does not contain [$2]: [$1]"
}

# Client wrappers: every client call is bounded in time.
T=$CLIENT_TIMEOUT
SKOPEO_BIN=$(command -v skopeo) PODMAN_BIN=$(command -v podman) BUILDAH_BIN=$(command -v buildah)
CTR_BIN=$(command -v ctr)
docker() { timeout -k 5 "$T" /usr/bin/docker "$@"; }
skopeo() { timeout -k 5 "$T" "$SKOPEO_BIN" "$@"; }
podman() {
    timeout -k 5 "$T" "$PODMAN_BIN" --root "$W/p/root" --runroot "$W/p/run" --tmpdir "$W/p/tmp" \
        --storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
}
buildah() { timeout -k 5 "$T" "$BUILDAH_BIN" --root "$W/b/root" --runroot "$W/b/run" --storage-driver vfs "$@"; }
ctr() { timeout -k 5 "$T" "$CTR_BIN" --address "$(cat "$W/state/containerd.sock")" "$@"; }
hcurl() { command curl -sS --max-time 30 "$@"; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
OCI_CONFIG=application/vnd.oci.image.config.v1+json
D2_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
D2_LIST=application/vnd.docker.distribution.manifest.list.v2+json
ACCEPT_ALL="$OCI_MANIFEST, $OCI_INDEX, $D2_MANIFEST, $D2_LIST"

# GET a manifest over HTTP; prints "content-type digest-header" and writes body to $3.
http_manifest() { # repo ref outfile
    local h
    h=$(hcurl -f -D - -o "$3" -H "Accept: $ACCEPT_ALL" "$U/v2/$1/manifests/$2" | tr -d '\r')
    printf '%s %s\n' \
        "$(printf '%s\n' "$h" | awk 'tolower($1)=="content-type:"{print $2}' | cut -d';' -f1 | tail -1)" \
        "$(printf '%s\n' "$h" | awk 'tolower($1)=="docker-content-digest:"{print $2}' | tail -1)"
}

# ---------------------------------------------------------------- registry --
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start_registry() {
    case $REGISTRY_UNDER_TEST in
    berth)
        [[ -x $BERTH_BIN ]] || { say "berth binary not found: $BERTH_BIN (cargo build -p berth)"; return 1; }
        "$BERTH_BIN" serve --listen 127.0.0.1:0 --data-dir "$W/data" >"$W/berth.stdout" 2>>"$REG_LOG" &
        REG_PID=$!
        local i addr=''
        for ((i = 0; i < 300; i++)); do
            addr=$(sed -n 's|^listening on http://\([^[:space:]]*\)$|\1|p' "$W/berth.stdout" | head -1)
            [[ -n $addr ]] && break
            kill -0 "$REG_PID" 2>/dev/null || break
            sleep 0.1
        done
        [[ -n $addr ]] || { say "berth did not print 'listening on http://HOST:PORT'"; cat "$W/berth.stdout"; tail -n 20 "$REG_LOG"; return 1; }
        R=$addr
        ;;
    distribution)
        local port
        port=$(free_port)
        cat >"$W/registry.yml" <<EOF
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage:
  filesystem: {rootdirectory: $W/data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
EOF
        # distribution reads REGISTRY_* variables as config overrides: keep the client ones away
        env -u REGISTRY_AUTH_FILE docker-registry serve "$W/registry.yml" >>"$REG_LOG" 2>&1 &
        REG_PID=$!
        R=127.0.0.1:$port
        ;;
    *) say "unknown REGISTRY_UNDER_TEST=$REGISTRY_UNDER_TEST"; return 1 ;;
    esac
    U=http://$R
    local i
    for ((i = 0; i < 100; i++)); do
        hcurl -fo /dev/null "$U/v2/" 2>/dev/null && return 0
        kill -0 "$REG_PID" 2>/dev/null || break
        sleep 0.1
    done
    say "registry at $U does not answer GET /v2/"; tail -n 20 "$REG_LOG"; return 1
}

say "==> registry under test: $REGISTRY_UNDER_TEST"
if ! start_registry; then
    say "FAIL  registry starts"
    say "0 passed, 1 failed"
    exit 1
fi
say "==> registry at $U (work dir $W)"

# Client configuration, all inside $W.
printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$R" >"$W/registries.conf"
echo '{"auths":{}}' >"$W/auth.json"
export CONTAINERS_REGISTRIES_CONF=$W/registries.conf REGISTRY_AUTH_FILE=$W/auth.json
export DOCKER_HOST=unix://$W/docker.sock DOCKER_CONFIG=$W/dockercfg DOCKER_BUILDKIT=0
mkdir -p "$W/p/tmp" "$DOCKER_CONFIG"
NOTLS=--tls-verify=false

# ------------------------------------------------------------ the checks ---

c_v2_base() {
    local h
    h=$(hcurl -f -D - -o "$W/v2.body" "$U/v2/" | tr -d '\r')
    assert_contains "$(printf '%s' "$h" | tr 'A-Z' 'a-z')" "docker-distribution-api-version: registry/2.0" "GET /v2/ headers"
}

c_docker_engine() {
    local i pid
    pid=$(cat "$W/state/dockerd.pid")
    for ((i = 0; i < 300; i++)); do
        /usr/bin/docker info >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$W/dockerd.log"; return 1; }
        sleep 0.2
    done
    docker info --format '{{.Driver}} {{.ServerVersion}}'
    # dockerd starts its own containerd under exec-root, unless a system one is running
    local sock=$W/exec/containerd/containerd.sock
    [[ -S $sock ]] || sock=/run/containerd/containerd.sock
    test -S "$sock"
    echo "$sock" >"$W/state/containerd.sock"
}
start_dockerd() {
    cat >"$W/daemon.json" <<EOF
{ "data-root": "$W/docker", "exec-root": "$W/exec", "pidfile": "$W/docker.pid",
  "hosts": ["unix://$W/docker.sock"], "iptables": false, "ip6tables": false,
  "bridge": "none", "storage-driver": "vfs" }
EOF
    dockerd --config-file "$W/daemon.json" >"$W/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    echo "$DOCKERD_PID" >"$W/state/dockerd.pid"
}

c_docker_build() {
    mkdir -p "$W/ctx"
    cp /bin/busybox "$W/ctx/busybox"
    cat >"$W/ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh", "-c", "echo hello-from-docker-build"]
EOF
    docker build --network none -t "$R/docker/busybox:v1" "$W/ctx"
    docker tag "$R/docker/busybox:v1" "$R/docker/busybox:v2"
    docker image inspect -f '{{.Id}}' "$R/docker/busybox:v1" >"$W/state/docker_image_id"
}

c_docker_push_two_tags() {
    local out1 out2 d1 d2
    cap docker push "$R/docker/busybox:v1"; out1=$OUT
    cap docker push "$R/docker/busybox:v2"; out2=$OUT
    d1=$(grep -o 'v1: digest: sha256:[0-9a-f]\{64\}' <<<"$out1" | grep -o 'sha256:.*')
    d2=$(grep -o 'v2: digest: sha256:[0-9a-f]\{64\}' <<<"$out2" | grep -o 'sha256:.*')
    assert_eq "$d2" "$d1" "digest of second tag"
    echo "$d1" >"$W/state/docker_digest"
    local tags
    tags=$(hcurl -f "$U/v2/docker/busybox/tags/list" | jq -c '.tags|sort')
    assert_eq "$tags" '["v1","v2"]' "tags/list of docker/busybox"
}

c_docker_pull_run() {
    docker rmi "$R/docker/busybox:v1" "$R/docker/busybox:v2"
    if docker image inspect "$R/docker/busybox:v1" >/dev/null 2>&1; then fail "image still present locally"; fi
    docker pull "$R/docker/busybox:v1"
    assert_eq "$(docker image inspect -f '{{.Id}}' "$R/docker/busybox:v1")" "$(cat "$W/state/docker_image_id")" "image id after pull"
    local out
    out=$(docker run --rm --network none "$R/docker/busybox:v1")
    assert_eq "$out" hello-from-docker-build "docker run output"
}

c_docker_pull_digest() {
    local dg out
    dg=$(cat "$W/state/docker_digest")
    docker rmi "$R/docker/busybox:v1"
    docker pull "$R/docker/busybox@$dg"
    assert_contains "$(docker image inspect -f '{{join .RepoDigests " "}}' "$R/docker/busybox@$dg")" "$R/docker/busybox@$dg" "RepoDigests"
    out=$(docker run --rm --network none "$R/docker/busybox@$dg" /bin/echo by-digest-ok)
    assert_eq "$out" by-digest-ok "docker run by digest"
}

c_docker_save_load() {
    local out
    docker pull "$R/docker/busybox:v1"
    docker save -o "$W/docker-save.tar" "$R/docker/busybox:v1"
    docker rmi -f "$R/docker/busybox:v1" "$R/docker/busybox@$(cat "$W/state/docker_digest")" || true
    if docker image inspect "$R/docker/busybox:v1" >/dev/null 2>&1; then fail "image still present locally"; fi
    cap docker load -i "$W/docker-save.tar"; out=$OUT
    assert_contains "$out" "Loaded image: $R/docker/busybox:v1" "docker load"
    out=$(docker run --rm --network none "$R/docker/busybox:v1")
    assert_eq "$out" hello-from-docker-build "docker run after load"
}

c_docker_build_from_registry() {
    # Remove every local copy of the base so that the build must pull it from the registry.
    docker rmi -f "$(cat "$W/state/docker_image_id")" || true
    mkdir -p "$W/ctx2"
    cat >"$W/ctx2/Dockerfile" <<EOF
FROM $R/docker/busybox:v1
RUN echo layered-on-registry-base > /layered.txt
CMD ["/bin/cat", "/layered.txt"]
EOF
    local out
    cap docker build --network none -t "$R/docker/derived:v1" "$W/ctx2"; out=$OUT
    assert_contains "$out" "Pulling from docker/busybox" "build output (base pulled from registry)"
    cap docker push "$R/docker/derived:v1"; out=$OUT
    # The base layers were pulled from docker/busybox: docker mounts them across repositories.
    assert_contains "$out" "Mounted from docker/busybox" "push output (cross-repo mount)"
    docker rmi "$R/docker/derived:v1"
    docker pull "$R/docker/derived:v1"
    out=$(docker run --rm --network none "$R/docker/derived:v1")
    assert_eq "$out" layered-on-registry-base "docker run of derived image"
}

# --- OCI layout built with umoci from busybox-static
make_oci_layout() {
    cd "$W"
    umoci init --layout oci
    umoci new --image oci:base
    umoci unpack --rootless --image oci:base bundle
    mkdir -p bundle/rootfs/bin
    cp /bin/busybox bundle/rootfs/bin/busybox
    ln -s busybox bundle/rootfs/bin/sh
    ln -s busybox bundle/rootfs/bin/echo
    ln -s busybox bundle/rootfs/bin/cat
    umoci repack --image oci:base bundle
    umoci config --image oci:base --tag v1 --config.cmd /bin/sh --config.cmd -c \
        --config.cmd 'echo hello-from-umoci' --architecture amd64 --os linux
    umoci config --image oci:v1 --tag v1-arm64 --architecture arm64 --os linux
    # multi-arch OCI index over the two images, tagged "multi" in the layout
    desc() {
        jq -c --arg t "$1" --arg a "$2" \
            '.manifests[]|select(.annotations["org.opencontainers.image.ref.name"]==$t)
             |{mediaType:(.mediaType//"'$OCI_MANIFEST'"),digest,size,platform:{architecture:$a,os:"linux"}}' oci/index.json
    }
    jq -cn --arg mt "$OCI_INDEX" --argjson a "$(desc v1 amd64)" --argjson b "$(desc v1-arm64 arm64)" \
        '{schemaVersion:2,mediaType:$mt,manifests:[$a,$b]}' >index-blob.json
    local dg size
    dg=$(sha256_of index-blob.json); size=$(stat -c %s index-blob.json)
    cp index-blob.json "oci/blobs/sha256/$dg"
    jq --arg mt "$OCI_INDEX" --arg d "sha256:$dg" --argjson s "$size" \
        '.manifests += [{mediaType:$mt,digest:$d,size:$s,annotations:{"org.opencontainers.image.ref.name":"multi"}}]' \
        oci/index.json >oci/index.json.new
    mv oci/index.json.new oci/index.json
    echo "sha256:$dg" >"$W/state/index_digest"
    layout_digest v1 >"$W/state/oci_v1_digest"
    layout_digest v1-arm64 >"$W/state/oci_arm64_digest"
    umoci ls --layout oci
}
layout_digest() { # tag [layout]
    jq -r --arg t "$1" '.manifests[]|select(.annotations["org.opencontainers.image.ref.name"]==$t)|.digest' "${2:-$W/oci}/index.json"
}

c_skopeo_copy_oci() {
    skopeo copy --format oci --dest-tls-verify=false "oci:$W/oci:v1" "docker://$R/skopeo/oci:v1"
    skopeo inspect --raw $NOTLS "docker://$R/skopeo/oci:v1" >"$W/raw-oci.json"
    cat "$W/raw-oci.json"; echo
    # umoci writes manifests without the optional mediaType field: the registry must keep the bytes
    assert_eq "sha256:$(sha256_of "$W/raw-oci.json")" "$(cat "$W/state/oci_v1_digest")" "digest of raw manifest"
    assert_eq "$(jq -r '.mediaType // "'$OCI_MANIFEST'"' "$W/raw-oci.json")" "$OCI_MANIFEST" "raw manifest mediaType"
    assert_eq "$(jq -r .config.mediaType "$W/raw-oci.json")" "$OCI_CONFIG" "config mediaType"
    local ct
    ct=$(http_manifest skopeo/oci v1 "$W/raw-oci.http")
    assert_eq "$ct" "$OCI_MANIFEST $(cat "$W/state/oci_v1_digest")" "GET manifest Content-Type and Docker-Content-Digest"
    assert_eq "$(skopeo inspect $NOTLS --format '{{.Architecture}}/{{.Os}}' "docker://$R/skopeo/oci:v1")" amd64/linux "skopeo inspect"
}

c_skopeo_copy_v2s2() {
    skopeo copy --format v2s2 --dest-tls-verify=false "oci:$W/oci:v1" "docker://$R/skopeo/v2s2:v1"
    skopeo inspect --raw $NOTLS "docker://$R/skopeo/v2s2:v1" >"$W/raw-v2s2.json"
    cat "$W/raw-v2s2.json"; echo
    assert_eq "$(jq -r .mediaType "$W/raw-v2s2.json")" "$D2_MANIFEST" "raw manifest mediaType"
    assert_eq "$(jq -r .config.mediaType "$W/raw-v2s2.json")" application/vnd.docker.container.image.v1+json "config mediaType"
    assert_eq "$(jq -r '.layers[0].mediaType' "$W/raw-v2s2.json")" application/vnd.docker.image.rootfs.diff.tar.gzip "layer mediaType"
    local ct
    ct=$(http_manifest skopeo/v2s2 v1 "$W/raw-v2s2.http")
    assert_eq "$ct" "$D2_MANIFEST sha256:$(sha256_of "$W/raw-v2s2.json")" "GET manifest Content-Type and Docker-Content-Digest"
    # pull it back into a fresh layout: config and layers intact
    skopeo copy --src-tls-verify=false "docker://$R/skopeo/v2s2:v1" "oci:$W/oci-from-v2s2:v1"
}

c_skopeo_multiarch() {
    local idx
    idx=$(cat "$W/state/index_digest")
    skopeo copy --all --dest-tls-verify=false "oci:$W/oci:multi" "docker://$R/skopeo/multi:v1"
    skopeo inspect --raw $NOTLS "docker://$R/skopeo/multi:v1" >"$W/raw-index.json"
    cat "$W/raw-index.json"; echo
    assert_eq "sha256:$(sha256_of "$W/raw-index.json")" "$idx" "digest of raw index"
    assert_eq "$(jq -r .mediaType "$W/raw-index.json")" "$OCI_INDEX" "index mediaType"
    assert_eq "$(jq -r '[.manifests[].platform.architecture]|join(",")' "$W/raw-index.json")" amd64,arm64 "platforms"
    local ct
    ct=$(http_manifest skopeo/multi v1 "$W/raw-index.http")
    assert_eq "$ct" "$OCI_INDEX $idx" "GET index Content-Type and Docker-Content-Digest"
    # each child manifest is there by digest
    skopeo inspect --raw $NOTLS "docker://$R/skopeo/multi@$(cat "$W/state/oci_arm64_digest")" >"$W/raw-arm64.json"
    assert_eq "sha256:$(sha256_of "$W/raw-arm64.json")" "$(cat "$W/state/oci_arm64_digest")" "arm64 child by digest"
    # and back out to a new layout, digests unchanged
    skopeo copy --all --src-tls-verify=false "docker://$R/skopeo/multi:v1" "oci:$W/oci-out:multi"
    assert_eq "$(layout_digest multi "$W/oci-out")" "$idx" "index digest after round trip"
    for d in $(jq -r '.manifests[].digest' "$W/raw-index.json"); do
        test -f "$W/oci-out/blobs/sha256/${d#sha256:}"
        assert_eq "sha256:$(sha256_of "$W/oci-out/blobs/sha256/${d#sha256:}")" "$d" "child manifest blob"
    done
}

c_skopeo_cross_repo() {
    local out
    cap skopeo --debug copy --src-tls-verify=false --dest-tls-verify=false \
        "docker://$R/skopeo/oci:v1" "docker://$R/skopeo/copied:v1" >/dev/null || { tail -n 40 <<<"$OUT"; return 1; }
    out=$OUT
    grep -E 'mount|POST|PUT' <<<"$out" || true
    assert_contains "$out" "mount OK" "skopeo debug output (cross-repo mount)"
    skopeo inspect --raw $NOTLS "docker://$R/skopeo/copied:v1" >"$W/raw-copied.json"
    assert_eq "sha256:$(sha256_of "$W/raw-copied.json")" "$(cat "$W/state/oci_v1_digest")" "digest in target repo"
    # the mounted layer is served through the new repository
    local layer
    layer=$(jq -r '.layers[0].digest' "$W/raw-copied.json")
    hcurl -f -o "$W/layer-copied" "$U/v2/skopeo/copied/blobs/$layer"
    assert_eq "sha256:$(sha256_of "$W/layer-copied")" "$layer" "layer blob via target repo"
}

c_skopeo_list_tags() {
    skopeo copy --src-tls-verify=false --dest-tls-verify=false "docker://$R/skopeo/oci:v1" "docker://$R/skopeo/oci:v2"
    skopeo copy --src-tls-verify=false --dest-tls-verify=false "docker://$R/skopeo/oci:v1" "docker://$R/skopeo/oci:latest"
    local tags
    tags=$(skopeo list-tags $NOTLS "docker://$R/skopeo/oci" | jq -c '.Tags|sort')
    assert_eq "$tags" '["latest","v1","v2"]' "skopeo list-tags"
}

c_skopeo_delete() {
    skopeo inspect --raw $NOTLS "docker://$R/skopeo/v2s2:v1" >/dev/null
    skopeo delete $NOTLS "docker://$R/skopeo/v2s2:v1"
    if skopeo inspect --raw $NOTLS "docker://$R/skopeo/v2s2:v1"; then fail "inspect still works after delete"; fi
    local code
    code=$(hcurl -o /dev/null -w '%{http_code}' -H "Accept: $ACCEPT_ALL" "$U/v2/skopeo/v2s2/manifests/v1")
    assert_eq "$code" 404 "GET deleted manifest by tag"
    # the same image in another repository is untouched
    skopeo inspect --raw $NOTLS "docker://$R/skopeo/oci:v1" >/dev/null
}

c_docker_pull_index() {
    docker pull "$R/skopeo/multi:v1"
    assert_eq "$(docker image inspect -f '{{.Architecture}}' "$R/skopeo/multi:v1")" amd64 "architecture picked from index"
    local out
    out=$(docker run --rm --network none "$R/skopeo/multi:v1")
    assert_eq "$out" hello-from-umoci "docker run of image from OCI index"
    # an OCI manifest without the optional mediaType field: docker goes by the Content-Type header
    docker pull "$R/skopeo/oci:v1"
    out=$(docker run --rm --network none "$R/skopeo/oci:v1")
    assert_eq "$out" hello-from-umoci "docker run of the umoci image"
}

c_podman_push_pull() {
    local id out
    # relative layout path: podman names the image after it (the temp dir name has capitals)
    cd "$W"
    id=$(podman pull -q oci:oci:v1)
    podman tag "$id" "$R/podman/busybox:v1"
    podman push --format oci "$R/podman/busybox:v1"
    skopeo inspect --raw $NOTLS "docker://$R/podman/busybox:v1" >"$W/raw-podman.json"
    cat "$W/raw-podman.json"; echo
    assert_eq "$(jq -r .config.mediaType "$W/raw-podman.json")" "$OCI_CONFIG" "config mediaType"
    podman rmi -f "$id"
    if podman image exists "$R/podman/busybox:v1"; then fail "image still present locally"; fi
    podman pull "$R/podman/busybox:v1"
    assert_eq "$(podman image inspect -f '{{.Id}}' "$R/podman/busybox:v1")" "$id" "image id after pull"
    out=$(podman run --rm --network none --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        "$R/podman/busybox:v1")
    assert_eq "$out" hello-from-umoci "podman run output"
}

c_podman_list_tags() {
    local out
    out=$(podman search --list-tags "$R/podman/busybox")
    echo "$out"
    assert_contains "$out" "$R/podman/busybox" "podman search --list-tags"
    grep -qE '[[:space:]]v1$' <<<"$out" || fail "tag v1 not listed"
}

c_podman_manifest() { # format tag expected-list-type expected-child-type
    local fmt=$1 tag=$2 want_list=$3 want_child=$4
    local list=localhost/berth-test-list-$tag
    podman manifest create "$list"
    podman manifest add "$list" "oci:$W/oci:v1"
    podman manifest add "$list" "oci:$W/oci:v1-arm64"
    podman manifest push --all --format "$fmt" "$list" "docker://$R/podman/multi:$tag"
    skopeo inspect --raw $NOTLS "docker://$R/podman/multi:$tag" >"$W/raw-podman-$tag.json"
    cat "$W/raw-podman-$tag.json"; echo
    assert_eq "$(jq -r .mediaType "$W/raw-podman-$tag.json")" "$want_list" "list mediaType"
    assert_eq "$(jq -r '[.manifests[].mediaType]|unique|join(",")' "$W/raw-podman-$tag.json")" "$want_child" "child mediaTypes"
    assert_eq "$(jq -r '[.manifests[].platform.architecture]|sort|join(",")' "$W/raw-podman-$tag.json")" amd64,arm64 "platforms"
    local ct d
    ct=$(http_manifest podman/multi "$tag" "$W/raw-podman-$tag.http")
    assert_eq "$ct" "$want_list sha256:$(sha256_of "$W/raw-podman-$tag.json")" "GET list Content-Type and digest"
    for d in $(jq -r '.manifests[].digest' "$W/raw-podman-$tag.json"); do
        skopeo inspect --raw $NOTLS "docker://$R/podman/multi@$d" >/dev/null
    done
    podman manifest rm "$list"
    # pulling the list picks the amd64 image
    podman pull "$R/podman/multi:$tag"
    assert_eq "$(podman image inspect -f '{{.Architecture}}' "$R/podman/multi:$tag")" amd64 "pulled architecture"
}

c_buildah_build_push() {
    local c
    c=$(buildah from scratch)
    buildah copy "$c" /bin/busybox /bin/busybox
    buildah config --cmd '/bin/busybox echo hello-from-buildah' --arch amd64 --os linux \
        --label built-by=berth-client-tests "$c"
    buildah commit -q "$c" "$R/buildah/busybox:v1"
    buildah rm "$c"
    buildah push "$R/buildah/busybox:v1"
    skopeo inspect $NOTLS "docker://$R/buildah/busybox:v1" >"$W/inspect-buildah.json"
    assert_eq "$(jq -r '.Labels["built-by"]' "$W/inspect-buildah.json")" berth-client-tests "label via skopeo inspect"
    assert_eq "$(skopeo inspect --raw $NOTLS "docker://$R/buildah/busybox:v1" | jq -r .mediaType)" "$OCI_MANIFEST" "mediaType"
}

c_buildah_pull_check() {
    local out
    podman pull "$R/buildah/busybox:v1"
    out=$(podman run --rm --network none --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        "$R/buildah/busybox:v1")
    assert_eq "$out" hello-from-buildah "podman run of buildah image"
    skopeo copy --src-tls-verify=false "docker://$R/buildah/busybox:v1" "oci:$W/oci-buildah:v1"
}

c_buildah_bud_from_registry() {
    mkdir -p "$W/ctx3"
    printf 'FROM %s/buildah/busybox:v1\nRUN ["/bin/busybox", "sh", "-c", "echo bud-on-registry-base > /bud.txt"]\nCMD ["/bin/busybox", "cat", "/bud.txt"]\n' \
        "$R" >"$W/ctx3/Containerfile"
    buildah bud --isolation chroot -f "$W/ctx3/Containerfile" -t "$R/buildah/derived:v1" "$W/ctx3"
    buildah push "$R/buildah/derived:v1"
    local out
    podman pull "$R/buildah/derived:v1"
    out=$(podman run --rm --network none --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        "$R/buildah/derived:v1")
    assert_eq "$out" bud-on-registry-base "podman run of buildah bud image"
}

c_ctr_pull() {
    ctr images pull --plain-http --snapshotter native "$R/docker/busybox:v1"
    local got
    got=$(ctr images ls | awk -v r="$R/docker/busybox:v1" '$1==r{print $3}')
    assert_eq "$got" "$(cat "$W/state/docker_digest")" "digest of image pulled by ctr"
}

c_ctr_pull_index() {
    ctr images pull --plain-http --all-platforms "$R/skopeo/multi:v1"
    local got
    got=$(ctr images ls | awk -v r="$R/skopeo/multi:v1" '$1==r{print $3}')
    assert_eq "$got" "$(cat "$W/state/index_digest")" "digest of index pulled by ctr"
    ctr content get "$(cat "$W/state/oci_arm64_digest")" >/dev/null
}

c_ctr_push() {
    ctr images tag "$R/docker/busybox:v1" "$R/ctr/busybox:v1"
    ctr images push --plain-http "$R/ctr/busybox:v1"
    local ct
    ct=$(http_manifest ctr/busybox v1 "$W/raw-ctr.json")
    assert_eq "$ct" "$D2_MANIFEST $(cat "$W/state/docker_digest")" "manifest pushed by ctr"
    docker pull "$R/ctr/busybox:v1"
}

c_http_catalog() {
    local repos want r
    repos=$(hcurl -f "$U/v2/_catalog?n=1000" | jq -c '.repositories')
    echo "$repos"
    for r in docker/busybox docker/derived docker/big docker/retag skopeo/oci skopeo/copied skopeo/multi \
        skopeo/zstd synced/oci podman/busybox podman/multi buildah/busybox buildah/derived ctr/busybox; do
        jq -e --arg r "$r" 'index($r) != null' <<<"$repos" >/dev/null || fail "_catalog lacks $r"
    done
    assert_eq "$(jq -c '. == (.|sort)' <<<"$repos")" true "_catalog sorted"
}

c_http_blobs() {
    local m d
    http_manifest docker/busybox v1 "$W/http-docker.json" >/dev/null
    for d in $(jq -r '.config.digest, .layers[].digest' "$W/http-docker.json"); do
        hcurl -f -o "$W/blob" "$U/v2/docker/busybox/blobs/$d"
        assert_eq "sha256:$(sha256_of "$W/blob")" "$d" "blob content"
        m=$(hcurl -f -I "$U/v2/docker/busybox/blobs/$d" | tr -d '\r' | awk 'tolower($1)=="docker-content-digest:"{print $2}')
        assert_eq "$m" "$d" "HEAD blob Docker-Content-Digest"
    done
    m=$(hcurl -f -I -H "Accept: $ACCEPT_ALL" "$U/v2/docker/busybox/manifests/v2" | tr -d '\r' |
        awk 'tolower($1)=="docker-content-digest:"{print $2}')
    assert_eq "$m" "$(cat "$W/state/docker_digest")" "HEAD manifest by second tag"
}

c_docker_big_layer() {
    # 32 MiB of random data: incompressible, so the pushed layer is > 32 MiB in one PATCH
    mkdir -p "$W/ctx-big"
    head -c 32M /dev/urandom >"$W/ctx-big/big.bin"
    sha256_of "$W/ctx-big/big.bin" >"$W/state/big_sum"
    printf 'FROM %s/docker/busybox:v1\nCOPY big.bin /big.bin\nCMD ["/bin/sh", "-c", "sha256sum /big.bin"]\n' \
        "$R" >"$W/ctx-big/Dockerfile"
    docker build --network none -t "$R/docker/big:v1" "$W/ctx-big"
    docker push "$R/docker/big:v1"
    docker rmi "$R/docker/big:v1"
    docker pull "$R/docker/big:v1"
    local out
    out=$(docker run --rm --network none "$R/docker/big:v1")
    assert_eq "${out%% *}" "$(cat "$W/state/big_sum")" "sha256 of the 32 MiB file inside the pulled image"
}

c_docker_retag() {
    mkdir -p "$W/ctx-retag"
    local gen d1 d2 out
    for gen in one two; do
        printf 'FROM %s/docker/busybox:v1\nCMD ["/bin/echo", "generation-%s"]\n' "$R" "$gen" >"$W/ctx-retag/Dockerfile"
        docker build --network none -t "$R/docker/retag:latest" "$W/ctx-retag"
        cap docker push "$R/docker/retag:latest"
        grep -o 'latest: digest: sha256:[0-9a-f]\{64\}' <<<"$OUT" | grep -o 'sha256:.*' >"$W/state/retag_$gen"
    done
    d1=$(cat "$W/state/retag_one"); d2=$(cat "$W/state/retag_two")
    [[ $d1 != "$d2" ]] || fail "the two generations have the same digest"
    docker rmi "$R/docker/retag:latest"
    docker pull "$R/docker/retag:latest"
    out=$(docker run --rm --network none "$R/docker/retag:latest")
    assert_eq "$out" generation-two "tag now points to the second push"
    # the first manifest is still there by digest
    docker pull "$R/docker/retag@$d1"
    out=$(docker run --rm --network none "$R/docker/retag@$d1")
    assert_eq "$out" generation-one "old manifest by digest"
}

c_skopeo_zstd() {
    # an image whose layer is not in the registry yet (else skopeo reuses the gzip blob)
    cd "$W"
    umoci new --image oci:zbase
    umoci unpack --rootless --image oci:zbase zbundle
    mkdir -p zbundle/rootfs/bin
    cp /bin/busybox zbundle/rootfs/bin/busybox
    echo zstd-marker >zbundle/rootfs/marker
    umoci repack --image oci:zbase zbundle
    umoci config --image oci:zbase --tag zstd --architecture amd64 --os linux
    skopeo copy --format oci --dest-compress --dest-compress-format zstd --dest-tls-verify=false \
        "oci:$W/oci:zstd" "docker://$R/skopeo/zstd:v1"
    skopeo inspect --raw $NOTLS "docker://$R/skopeo/zstd:v1" >"$W/raw-zstd.json"
    cat "$W/raw-zstd.json"; echo
    assert_eq "$(jq -r '.layers[0].mediaType' "$W/raw-zstd.json")" application/vnd.oci.image.layer.v1.tar+zstd "layer mediaType"
    skopeo copy --src-tls-verify=false "docker://$R/skopeo/zstd:v1" "oci:$W/oci-zstd:v1"
    local l
    l=$(jq -r '.layers[0].digest' "$W/raw-zstd.json")
    assert_eq "sha256:$(sha256_of "$W/oci-zstd/blobs/sha256/${l#sha256:}")" "$l" "zstd layer after round trip"
}

c_skopeo_sync() {
    skopeo sync --src docker --dest docker --src-tls-verify=false --dest-tls-verify=false \
        "$R/skopeo/oci" "$R/synced"
    local tags
    tags=$(skopeo list-tags $NOTLS "docker://$R/synced/oci" | jq -c '.Tags|sort')
    assert_eq "$tags" '["latest","v1","v2"]' "tags of the synced repository"
    skopeo inspect --raw $NOTLS "docker://$R/synced/oci:v2" >"$W/raw-synced.json"
    assert_eq "sha256:$(sha256_of "$W/raw-synced.json")" "$(cat "$W/state/oci_v1_digest")" "synced manifest digest"
}

c_docker_pull_list() {
    docker pull "$R/podman/multi:v2s2"
    assert_eq "$(docker image inspect -f '{{.Architecture}}' "$R/podman/multi:v2s2")" amd64 "architecture picked from list"
    local out
    out=$(docker run --rm --network none "$R/podman/multi:v2s2")
    assert_eq "$out" hello-from-umoci "docker run of image from Docker manifest list"
}

c_ctr_pull_list() {
    ctr images pull --plain-http --all-platforms "$R/podman/multi:v2s2"
    local got
    got=$(ctr images ls | awk -v r="$R/podman/multi:v2s2" '$1==r{print $2, $3}')
    assert_eq "$got" "$D2_LIST sha256:$(sha256_of "$W/raw-podman-v2s2.json")" "type and digest of list pulled by ctr"
}

# Parent shell (not a check): SIGTERM the registry, record how it exited, start it again on the same
# data dir (new port). The check below asserts on the outcome.
restart_registry() {
    local pid=$REG_PID n=150 rc
    REG_PID=''
    kill -TERM "$pid" 2>/dev/null
    while ((n-- > 0)) && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "still running 15 s after SIGTERM" >"$W/state/stop_note"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    echo "$rc" >"$W/state/stop_rc"
    OLD_R=$R
    if start_registry >"$W/state/restart.out" 2>&1; then echo ok >"$W/state/restart_ok"; fi
}

c_restart() {
    cat "$W/state/stop_note" 2>/dev/null && return 1
    if [[ $REGISTRY_UNDER_TEST == berth ]]; then
        assert_eq "$(cat "$W/state/stop_rc")" 0 "exit status after SIGTERM"
    fi
    [[ -f $W/state/restart_ok ]] || { cat "$W/state/restart.out"; fail "registry did not come back"; }
    echo "old address $OLD_R, new address $R"
    # everything pushed before the restart is still served
    skopeo copy --all --src-tls-verify=false "docker://$R/skopeo/multi:v1" "oci:$W/oci-restart:multi"
    assert_eq "$(layout_digest multi "$W/oci-restart")" "$(cat "$W/state/index_digest")" "index digest after restart"
    local dg out
    dg=$(cat "$W/state/docker_digest")
    docker pull "$R/docker/busybox@$dg"
    out=$(docker run --rm --network none "$R/docker/busybox@$dg")
    assert_eq "$out" hello-from-docker-build "docker run after registry restart"
    local tags
    tags=$(hcurl -f "$U/v2/docker/busybox/tags/list" | jq -c '.tags|sort')
    assert_eq "$tags" '["v1","v2"]' "tags/list after restart"
    # and it still takes pushes
    skopeo copy --src-tls-verify=false --dest-tls-verify=false "docker://$R/buildah/busybox:v1" "docker://$R/after/restart:v1"
}

# ------------------------------------------------------------ run them ---
start_dockerd
run_check "registry: GET /v2/ answers with API version header" c_v2_base
run_check "docker: engine starts (vfs, private sockets)" c_docker_engine
run_check "docker: build FROM scratch (DOCKER_BUILDKIT=0)" c_docker_build
run_check "docker: push with two tags (same digest, tags/list)" c_docker_push_two_tags
run_check "docker: rmi, pull by tag, run --network none" c_docker_pull_run
run_check "docker: pull and run by digest (repo@sha256:...)" c_docker_pull_digest
run_check "docker: save / load" c_docker_save_load
run_check "docker: build FROM registry image, push (mount), pull, run" c_docker_build_from_registry
run_check "docker: push and pull a 32 MiB layer" c_docker_big_layer
run_check "docker: push a tag again with a new image (tag moves, old digest stays)" c_docker_retag
run_check "umoci: build OCI layout (amd64, arm64, index)" make_oci_layout
run_check "skopeo: copy OCI layout as OCI, inspect" c_skopeo_copy_oci
run_check "skopeo: copy --format v2s2, inspect, copy back" c_skopeo_copy_v2s2
run_check "skopeo: copy --all multi-arch OCI index, inspect, round trip" c_skopeo_multiarch
run_check "skopeo: copy between repositories (cross-repo mount)" c_skopeo_cross_repo
run_check "skopeo: list-tags" c_skopeo_list_tags
run_check "skopeo: sync a repository (all tags) into another namespace" c_skopeo_sync
run_check "skopeo: copy with zstd layer compression, copy back" c_skopeo_zstd
run_check "skopeo: delete, then inspect fails" c_skopeo_delete
run_check "docker: pull and run from multi-arch OCI index, and an umoci manifest" c_docker_pull_index
run_check "podman: push --format oci, rmi, pull, run" c_podman_push_pull
run_check "podman: search --list-tags" c_podman_list_tags
run_check "podman: manifest create/add/push --all (OCI index)" c_podman_manifest oci oci "$OCI_INDEX" "$OCI_MANIFEST"
run_check "podman: manifest push --all --format v2s2 (Docker manifest list)" c_podman_manifest v2s2 v2s2 "$D2_LIST" "$D2_MANIFEST"
run_check "docker: pull and run from Docker manifest list (pushed by podman)" c_docker_pull_list
run_check "buildah: from scratch, copy, config, commit, push" c_buildah_build_push
run_check "buildah: pushed image pulls and runs (podman, skopeo)" c_buildah_pull_check
run_check "buildah: bud FROM registry image, push, pull, run" c_buildah_bud_from_registry
run_check "containerd: ctr images pull --plain-http" c_ctr_pull
run_check "containerd: ctr images pull --all-platforms of OCI index" c_ctr_pull_index
run_check "containerd: ctr images pull --all-platforms of Docker manifest list" c_ctr_pull_list
run_check "containerd: ctr images push --plain-http" c_ctr_push
run_check "http: /v2/_catalog lists every pushed repository" c_http_catalog
run_check "http: blobs and manifests match their digests" c_http_blobs
restart_registry
run_check "registry: SIGTERM stops it cleanly; restarted on the same data, content is served" c_restart

say ""
if ((FAIL)); then
    say "failed checks:"
    for f in "${FAILED[@]}"; do say "  - $f"; done
fi
say "$PASS passed, $FAIL failed"
((FAIL == 0))
