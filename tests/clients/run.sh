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
# Authentication is on, as in production: berth runs in its default mode with
# BERTH_ADMIN_PASSWORD set (token auth); distribution runs with htpasswd auth
# (HTTP Basic) holding the same accounts. Every client logs in first (as admin);
# the login checks then use the accounts alice and bob (berth: `berth user add`
# and POST /api/v1/users; distribution: htpasswd), personal access tokens, an
# organization with a team and a robot. Checks that need a feature distribution
# lacks (visibility, second user's rights, PATs, orgs, the token endpoint,
# docker search and podman search over /v1/search) are run against berth only
# and shown as SKIP for distribution.
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
    [[ $REGISTRY_UNDER_TEST == distribution ]] && want+=(docker-registry apache2-utils)
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
        command -v htpasswd >/dev/null || { say "htpasswd missing"; return 1; }
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

# berth_check NAME FUNCTION [ARGS...]: a check of a feature distribution does not have.
berth_check() {
    if [[ $REGISTRY_UNDER_TEST == berth ]]; then run_check "$@"; else say "SKIP  $1 (berth only)"; fi
}
is_berth() { [[ $REGISTRY_UNDER_TEST == berth ]]; }

# cap CMD...: run CMD, keep its combined output in $OUT and copy it to the check log.
cap() { local rc=0; OUT=$("$@" 2>&1) || rc=$?; printf '%s\n' "$OUT"; return $rc; }
fail() { echo "ASSERTION FAILED: $*" >&2; return 1; }
assert_eq() { # actual expected what
    [[ $1 == "$2" ]] || fail "${3:-value}: expected [$2], got [$1]"
}
assert_contains() { # haystack needle what
    [[ $1 == *"$2"* ]] || fail "${3:-output} does not contain [$2]: [$1]"
}
assert_match() { # haystack extended-regex what (case-insensitive)
    grep -qiE -- "$2" <<<"$1" || fail "${3:-output} does not match /$2/: [$1]"
}
# what a client prints when the registry refuses an anonymous or unauthorized request
REFUSED='denied|unauthorized|forbidden|authentication required|no basic auth credentials'

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
# hcurl: HTTP as admin (Basic); acurl: anonymous (or pass -u / -H Authorization yourself)
hcurl() { command curl -sS --max-time 30 -u "$ADMIN_USER:$ADMIN_PASS" "$@"; }
acurl() { command curl -sS --max-time 30 "$@"; }
# api STATUS USER:PASS|'' METHOD PATH [JSON]: call /api/v1, fail unless the status is STATUS;
# the body is left in $W/api.body.
api() {
    local want=$1 creds=$2 m=$3 p=$4 data=${5-} code
    local a=(-sS --max-time 30 -X "$m" -o "$W/api.body" -w '%{http_code}')
    [[ -n $creds ]] && a+=(-u "$creds")
    [[ -n $data ]] && a+=(-H 'Content-Type: application/json' --data "$data")
    : >"$W/api.body"
    code=$(command curl "${a[@]}" "$U/api/v1$p") || true
    echo "$m /api/v1$p ${data:+$data }-> $code $(head -c 600 "$W/api.body")" >&2
    [[ $code == "$want" ]] || fail "$m /api/v1$p: expected HTTP $want, got $code: $(head -c 600 "$W/api.body")"
}
# http_code [CURL ARGS...] URL: the status only (anonymous unless -u/-H given)
http_code() { acurl -o "$W/http.body" -w '%{http_code}' "$@" || true; }
# docker_as WHO ARGS...: docker with WHO's own client config ($W/dockercfg-WHO), so that
# the logins of the auth checks leave admin's ($DOCKER_CONFIG) alone
docker_as() { local who=$1; shift; (export DOCKER_CONFIG=$W/dockercfg-$who; docker "$@"); }
docker_login_as() { # WHO USER PASSWORD
    printf '%s\n' "$3" | docker_as "$1" login -u "$2" --password-stdin "$R"
}
# docker_push_refused WHO REF: docker push as WHO must fail, at once. docker gives up on the first
# error it takes for a refusal (DENIED, UNAUTHORIZED, NAME_UNKNOWN...) and retries any other error
# 5 times over ~50 s, so a refusal it does not recognize shows as a push still running after 12 s.
docker_push_refused() {
    local T=12 t0=$SECONDS
    if cap docker_as "$1" push "$2"; then fail "docker push of $2 as $1 succeeded"; fi
    ((SECONDS - t0 < 10)) ||
        fail "docker push of $2 as $1 did not give up at once (docker retried the refusal as a transient error): [$OUT]"
    assert_match "$OUT" "$REFUSED" "docker push output"
}
jwt_payload() { # JWT: its decoded payload
    local p
    p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
    while ((${#p} % 4)); do p+='='; done
    base64 -d <<<"$p"
}
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
rand_pw() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20; }
ADMIN_USER=admin
ADMIN_PASS=adm-$(rand_pw) ALICE_PASS=alice-$(rand_pw) BOB_PASS=bob-$(rand_pw)

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start_registry() {
    case $REGISTRY_UNDER_TEST in
    berth)
        [[ -x $BERTH_BIN ]] || { say "berth binary not found: $BERTH_BIN (cargo build -p berth)"; return 1; }
        # default mode: auth on; the first start creates admin with this password
        env -u BERTH_BIN BERTH_ADMIN_PASSWORD="$ADMIN_PASS" \
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
        # htpasswd (bcrypt) auth with the accounts the checks use
        if [[ ! -f $W/htpasswd ]]; then
            { htpasswd -Bbn "$ADMIN_USER" "$ADMIN_PASS"; htpasswd -Bbn alice "$ALICE_PASS"; } | grep . >"$W/htpasswd" ||
                { say "htpasswd failed"; return 1; }
        fi
        cat >"$W/registry.yml" <<EOF
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage:
  filesystem: {rootdirectory: $W/data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
auth: {htpasswd: {realm: berth-client-tests, path: $W/htpasswd}}
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
        # up when it answers at all (anonymous gets 401 with auth on)
        [[ $(acurl -o /dev/null -w '%{http_code}' "$U/v2/" 2>/dev/null) != 000 ]] && return 0
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
    ctr images pull --plain-http --user "$ADMIN_USER:$ADMIN_PASS" --snapshotter native "$R/docker/busybox:v1"
    local got
    got=$(ctr images ls | awk -v r="$R/docker/busybox:v1" '$1==r{print $3}')
    assert_eq "$got" "$(cat "$W/state/docker_digest")" "digest of image pulled by ctr"
}

c_ctr_pull_index() {
    ctr images pull --plain-http --user "$ADMIN_USER:$ADMIN_PASS" --all-platforms "$R/skopeo/multi:v1"
    local got
    got=$(ctr images ls | awk -v r="$R/skopeo/multi:v1" '$1==r{print $3}')
    assert_eq "$got" "$(cat "$W/state/index_digest")" "digest of index pulled by ctr"
    ctr content get "$(cat "$W/state/oci_arm64_digest")" >/dev/null
}

c_ctr_push() {
    ctr images tag "$R/docker/busybox:v1" "$R/ctr/busybox:v1"
    ctr images push --plain-http --user "$ADMIN_USER:$ADMIN_PASS" "$R/ctr/busybox:v1"
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
    ctr images pull --plain-http --user "$ADMIN_USER:$ADMIN_PASS" --all-platforms "$R/podman/multi:v2s2"
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
    # the address changed: log in again (same accounts, same data)
    login_admin_clients
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

# ------------------------------------------------- accounts, logins, access ---
# Accounts: admin (first start / htpasswd), alice and bob (berth: `berth user add`, the API;
# distribution: alice in htpasswd). alice's repositories: alice/private (stays private) and
# alice/public (made public through the API).

c_auth_base() {
    local h chal
    h=$(acurl -D - -o "$W/anon-v2.body" "$U/v2/" | tr -d '\r')
    printf '%s\n' "$h"
    assert_eq "$(awk 'NR==1{print $2}' <<<"$h")" 401 "anonymous GET /v2/"
    chal=$(awk 'tolower($1)=="www-authenticate:"{sub(/^[^:]*:[ ]*/, ""); print}' <<<"$h")
    if is_berth; then
        assert_match "$chal" '^Bearer ' "WWW-Authenticate"
        assert_contains "$chal" "realm=\"$U/auth/token\"" "WWW-Authenticate"
        assert_contains "$chal" 'service="' "WWW-Authenticate"
    else
        assert_match "$chal" '^Basic realm=' "WWW-Authenticate"
    fi
    assert_eq "$(http_code -u "$ADMIN_USER:wrong-password" "$U/v2/")" 401 "GET /v2/ with a wrong password"
    assert_eq "$(http_code -u "$ADMIN_USER:$ADMIN_PASS" "$U/v2/")" 200 "GET /v2/ with admin's password"
}

# docker ($DOCKER_CONFIG) and podman, skopeo, buildah ($REGISTRY_AUTH_FILE) log in as admin.
# The containers tools also read docker's config.json, and refuse to log in over an entry there
# that holds an identity (refresh) token ("currently logged in, auth file contains an Identity
# token"): their logins run with an empty docker config.
login_admin_clients() {
    printf '%s\n' "$ADMIN_PASS" | docker login -u "$ADMIN_USER" --password-stdin "$R"
    (
        export DOCKER_CONFIG=$W/dockercfg-none
        printf '%s\n' "$ADMIN_PASS" | podman login $NOTLS -u "$ADMIN_USER" --password-stdin "$R"
        printf '%s\n' "$ADMIN_PASS" | skopeo login $NOTLS -u "$ADMIN_USER" --password-stdin "$R"
        printf '%s\n' "$ADMIN_PASS" | buildah login $NOTLS -u "$ADMIN_USER" --password-stdin "$R"
    )
}

c_login_admin() {
    login_admin_clients
    assert_eq "$(jq -r --arg r "$R" '.auths[$r].auth // empty' "$DOCKER_CONFIG/config.json" | base64 -d | cut -d: -f1)" \
        "$ADMIN_USER" "user stored by docker login"
    assert_eq "$(podman login --get-login "$R")" "$ADMIN_USER" "podman login --get-login"
    assert_eq "$(buildah login --get-login "$R")" "$ADMIN_USER" "buildah login --get-login"
}

c_accounts() {
    if ! is_berth; then
        assert_eq "$(http_code -u "alice:$ALICE_PASS" "$U/v2/")" 200 "alice GET /v2/ (htpasswd)"
        return 0
    fi
    # CLI on the data directory while the server runs; the server sees her at once
    printf '%s\n' "$ALICE_PASS" | env -u BERTH_BIN "$BERTH_BIN" user add alice --email alice@example.com \
        --password-stdin --data-dir "$W/data"
    assert_eq "$(http_code -u "alice:$ALICE_PASS" "$U/v2/")" 200 "alice GET /v2/"
    assert_eq "$(http_code -u "alice:wrong-password" "$U/v2/")" 401 "alice GET /v2/ with a wrong password"
    # the API, as admin
    api 201 "$ADMIN_USER:$ADMIN_PASS" POST /users "{\"username\":\"bob\",\"password\":\"$BOB_PASS\",\"email\":\"bob@example.com\"}"
    assert_eq "$(jq -r '.username, .admin' "$W/api.body" | paste -sd' ')" "bob false" "created user"
    assert_eq "$(http_code -u "bob:$BOB_PASS" "$U/v2/")" 200 "bob GET /v2/"
    api 200 "alice:$ALICE_PASS" GET /user
    assert_eq "$(jq -r .username "$W/api.body")" alice "GET /api/v1/user as alice"
    # registration is closed by default
    api 403 '' POST /users '{"username":"mallory","password":"mallory-password"}'
    local list
    list=$(env -u BERTH_BIN "$BERTH_BIN" user list --data-dir "$W/data")
    printf '%s\n' "$list"
    grep -qxP "$ADMIN_USER\tadmin" <<<"$list" || fail "berth user list lacks admin<TAB>admin"
    grep -qxP 'alice\tuser' <<<"$list" || fail "berth user list lacks alice<TAB>user"
    grep -qxP 'bob\tuser' <<<"$list" || fail "berth user list lacks bob<TAB>user"
}

c_docker_login() {
    if cap docker_login_as alice alice "wrong-$ALICE_PASS"; then fail "docker login with a wrong password succeeded"; fi
    assert_match "$OUT" 'unauthorized|401|incorrect|invalid' "docker login output"
    [[ -z $(jq -r --arg r "$R" '.auths[$r] // empty' "$W/dockercfg-alice/config.json" 2>/dev/null) ]] ||
        fail "docker stored credentials after a failed login"
    cap docker_login_as alice alice "$ALICE_PASS"
    assert_contains "$OUT" "Login Succeeded" "docker login output"
    jq -e --arg r "$R" '.auths[$r].auth' "$W/dockercfg-alice/config.json" >/dev/null
}

c_docker_own_namespace() {
    local out
    docker build -q --network none -t "$R/alice/private:v1" "$W/ctx"
    docker tag "$R/alice/private:v1" "$R/alice/public:v1"
    docker tag "$R/alice/private:v1" "$R/alice/private:anon"
    cap docker_as alice push "$R/alice/private:v1"; out=$OUT
    grep -o 'v1: digest: sha256:[0-9a-f]\{64\}' <<<"$out" | grep -o 'sha256:.*' >"$W/state/alice_digest"
    if is_berth; then
        # the same layers are in repositories alice may not read: nothing is mounted from there
        [[ $out != *"Mounted from"* ]] || fail "layers mounted from a repository alice may not read: $out"
    fi
    docker_as alice push "$R/alice/public:v1"
    assert_eq "$(hcurl -f "$U/v2/alice/private/tags/list" | jq -c .tags)" '["v1"]' "tags of alice/private"
    cap docker_as alice logout "$R"
    [[ -z $(jq -r --arg r "$R" '.auths[$r] // empty' "$W/dockercfg-alice/config.json") ]] || fail "credentials left after logout"
    # logged out: the private repository can be neither pulled nor pushed
    if cap docker_as alice pull "$R/alice/private:v1"; then fail "anonymous pull of a private repository succeeded"; fi
    assert_match "$OUT" "$REFUSED" "docker pull output"
    docker_push_refused alice "$R/alice/private:anon"
    assert_eq "$(http_code -u "$ADMIN_USER:$ADMIN_PASS" -H "Accept: $ACCEPT_ALL" "$U/v2/alice/private/manifests/anon")" 404 \
        "the anonymously pushed tag"
}

c_public_repo() {
    local out
    api 200 "$ADMIN_USER:$ADMIN_PASS" GET /repositories/alice/private
    assert_eq "$(jq -r .visibility "$W/api.body")" private "default visibility of alice/private"
    api 200 "$ADMIN_USER:$ADMIN_PASS" PATCH /repositories/alice/public '{"visibility":"public"}'
    assert_eq "$(jq -r '.name, .visibility' "$W/api.body" | paste -sd' ')" "alice/public public" "repository after PATCH"
    # anonymous docker (a client config without any login)
    docker rmi "$R/alice/public:v1"
    docker_as anon pull "$R/alice/public:v1"
    out=$(docker run --rm --network none "$R/alice/public:v1")
    assert_eq "$out" hello-from-docker-build "docker run of the anonymously pulled image"
    if cap docker_as anon pull "$R/alice/private:v1"; then fail "anonymous pull of alice/private succeeded"; fi
    assert_match "$OUT" "$REFUSED" "docker pull output"
    # anonymous skopeo fetches every blob
    skopeo copy --src-no-creds --src-tls-verify=false "docker://$R/alice/public:v1" "oci:$W/oci-public:v1"
    if cap skopeo inspect --no-creds $NOTLS "docker://$R/alice/private:v1"; then fail "anonymous inspect of alice/private succeeded"; fi
    # public is not writable for strangers: an anonymous push is refused
    docker tag "$R/alice/public:v1" "$R/alice/public:anon"
    docker_push_refused anon "$R/alice/public:anon"
}

c_second_user() {
    local code
    cap docker_login_as bob bob "$BOB_PASS"
    assert_contains "$OUT" "Login Succeeded" "docker login output"
    docker tag "$R/alice/private:v1" "$R/alice/bobs:v1"
    docker_push_refused bob "$R/alice/bobs:v1"
    assert_contains "$OUT" denied "docker push output"
    docker_push_refused bob "$R/alice/private:v1"
    assert_contains "$OUT" denied "docker push output"
    if cap docker_as bob pull "$R/alice/private:v1"; then fail "bob pulled alice/private"; fi
    assert_match "$OUT" 'denied|not found|does not exist|unknown' "docker pull output"
    docker_as bob pull "$R/alice/public:v1"
    # his own namespace is his
    docker tag "$R/alice/private:v1" "$R/bob/own:v1"
    docker_as bob push "$R/bob/own:v1"
    # the same over HTTP Basic: existence of alice/private not revealed; push refused
    code=$(http_code -u "bob:$BOB_PASS" -H "Accept: $ACCEPT_ALL" "$U/v2/alice/private/manifests/v1")
    assert_eq "$code $(jq -r '.errors[0].code' "$W/http.body")" "404 NAME_UNKNOWN" "bob GET alice/private manifest"
    code=$(http_code -u "bob:$BOB_PASS" -X POST "$U/v2/alice/private/blobs/uploads/")
    assert_eq "$code $(jq -r '.errors[0].code' "$W/http.body")" "403 DENIED" "bob POST upload to alice/private"
    assert_eq "$(http_code -u "$ADMIN_USER:$ADMIN_PASS" "$U/v2/alice/bobs/tags/list")" 404 "alice/bobs after bob's push"
    # his catalog: what he may read only
    acurl -f -u "bob:$BOB_PASS" "$U/v2/_catalog?n=1000" >"$W/catalog-bob.json"
    cat "$W/catalog-bob.json"
    assert_eq "$(jq -c '.repositories|map(select(.=="alice/public" or .=="bob/own"))|sort' "$W/catalog-bob.json")" \
        '["alice/public","bob/own"]' "bob's catalog has the repositories he may read"
    assert_eq "$(jq -c '.repositories|map(select(.=="alice/private" or .=="docker/busybox"))' "$W/catalog-bob.json")" '[]' \
        "bob's catalog lacks the repositories he may not read"
}

c_pat() {
    local rw ro rwid
    api 201 "alice:$ALICE_PASS" POST /users/alice/tokens '{"name":"ci-rw","scope":"read-write"}'
    rw=$(jq -r .token "$W/api.body"); rwid=$(jq -r .id "$W/api.body")
    assert_eq "$(jq -r .scope "$W/api.body")" read-write "scope"
    api 201 "alice:$ALICE_PASS" POST /users/alice/tokens '{"name":"ci-ro","scope":"read"}'
    ro=$(jq -r .token "$W/api.body")
    [[ -n $rw && $rw != null && -n $ro && $ro != null ]] || fail "no token in the answer"
    echo "$ro" >"$W/state/pat_read"
    # read-write: docker login with the token as password, push
    cap docker_login_as patrw alice "$rw"
    assert_contains "$OUT" "Login Succeeded" "docker login with a read-write PAT"
    docker tag "$R/alice/private:v1" "$R/alice/pat:v1"
    docker_as patrw push "$R/alice/pat:v1"
    # read: pull works, push is denied
    cap docker_login_as patro alice "$ro"
    assert_contains "$OUT" "Login Succeeded" "docker login with a read PAT"
    docker rmi "$R/alice/pat:v1"
    docker_as patro pull "$R/alice/pat:v1"
    docker tag "$R/alice/pat:v1" "$R/alice/pat:ro"
    docker_push_refused patro "$R/alice/pat:ro"
    assert_contains "$OUT" denied "docker push output"
    # listing shows no secrets; a deleted token stops working
    api 200 "alice:$ALICE_PASS" GET /users/alice/tokens
    assert_eq "$(jq -c '[..|objects|select(has("token"))]|length' "$W/api.body")" 0 "secrets in the token list"
    assert_eq "$(jq -c '[..|objects|.name? // empty|select(startswith("ci-"))]|sort' "$W/api.body")" '["ci-ro","ci-rw"]' "token names"
    api 204 "alice:$ALICE_PASS" DELETE "/users/alice/tokens/$rwid"
    assert_eq "$(http_code -u "alice:$rw" "$U/v2/")" 401 "GET /v2/ with the deleted PAT"
    if cap docker_login_as patgone alice "$rw"; then fail "docker login with a deleted PAT succeeded"; fi
    # the docker client logged in with it keeps what the login gave it (an identity token): that
    # must not outlive the PAT either
    docker tag "$R/alice/pat:v1" "$R/alice/pat:deleted"
    docker_push_refused patrw "$R/alice/pat:deleted"
}

c_org_robot() {
    local tok
    api 201 "alice:$ALICE_PASS" POST /orgs '{"name":"acme"}'
    api 201 "alice:$ALICE_PASS" POST /orgs/acme/teams '{"name":"ci","role":"write"}'
    api 201 "alice:$ALICE_PASS" POST /orgs/acme/robots '{"name":"ci"}'
    assert_eq "$(jq -r .name "$W/api.body")" "acme+ci" "robot name"
    tok=$(jq -r .token "$W/api.body")
    [[ -n $tok && $tok != null ]] || fail "no robot token"
    echo "$tok" >"$W/state/robot_token"
    cap docker_login_as robot acme+ci "$tok"
    assert_contains "$OUT" "Login Succeeded" "docker login as the robot"
    docker tag "$R/alice/private:v1" "$R/acme/app:v1"
    # in no team yet: no rights in the organization
    docker_push_refused robot "$R/acme/app:v1"
    assert_contains "$OUT" denied "docker push output (robot in no team)"
    api 204 "alice:$ALICE_PASS" PUT "/orgs/acme/teams/ci/members/acme+ci"
    cap docker_as robot push "$R/acme/app:v1"
    assert_contains "$OUT" "v1: digest: $(cat "$W/state/alice_digest")" "docker push output (robot in team ci)"
    touch "$W/state/robot_pushed"
    # nothing outside the organization
    docker tag "$R/alice/private:v1" "$R/alice/robot:v1"
    docker_push_refused robot "$R/alice/robot:v1"
    assert_contains "$OUT" denied "docker push output (outside the org)"
    # the owner reads it, a non-member does not (the organization's repositories are private by default)
    assert_eq "$(http_code -u "alice:$ALICE_PASS" -H "Accept: $ACCEPT_ALL" "$U/v2/acme/app/manifests/v1")" 200 "alice GET acme/app"
    assert_eq "$(http_code -u "bob:$BOB_PASS" -H "Accept: $ACCEPT_ALL" "$U/v2/acme/app/manifests/v1")" 404 "bob GET acme/app"
}

c_podman_skopeo_login() {
    local af=$W/auth-alice.json
    # no fallback credentials: no docker config, no per-user auth file
    export DOCKER_CONFIG=$W/dockercfg-none XDG_RUNTIME_DIR=$W/xdg
    mkdir -p "$XDG_RUNTIME_DIR"
    if printf 'wrong-password\n' | podman login --authfile "$af" -u alice --password-stdin "$R"; then
        fail "podman login with a wrong password succeeded"
    fi
    cap podman login --authfile "$af" -u alice -p "$ALICE_PASS" "$R"
    assert_contains "$OUT" "Login Succeeded" "podman login"
    assert_eq "$(podman login --authfile "$af" --get-login "$R")" alice "podman login --get-login"
    podman logout --authfile "$af" "$R"
    if podman login --authfile "$af" --get-login "$R"; then fail "podman still logged in after logout"; fi
    cap skopeo login $NOTLS --authfile "$af" -u alice -p "$ALICE_PASS" "$R"
    assert_contains "$OUT" "Login Succeeded" "skopeo login"
    assert_eq "$(skopeo inspect $NOTLS --authfile "$af" --format '{{.Digest}}' "docker://$R/alice/private:v1")" \
        "$(cat "$W/state/alice_digest")" "skopeo inspect of alice/private"
    skopeo logout --authfile "$af" "$R"
    if cap skopeo inspect $NOTLS --authfile "$af" "docker://$R/alice/private:v1"; then
        fail "skopeo inspect of a private repository succeeded after logout"
    fi
    assert_match "$OUT" "$REFUSED" "skopeo inspect output"
}

c_ctr_user() {
    local ref=$R/alice/private:v1
    ctr images pull --plain-http --user "alice:$ALICE_PASS" --snapshotter native "$ref"
    assert_eq "$(ctr images ls | awk -v r="$ref" '$1==r{print $3}')" "$(cat "$W/state/alice_digest")" "digest pulled by ctr"
    ctr images rm "$ref"
    if cap ctr images pull --plain-http --snapshotter native "$ref"; then fail "ctr pull without credentials succeeded"; fi
    assert_match "$OUT" "$REFUSED" "ctr pull output"
    if cap ctr images pull --plain-http --user "alice:wrong-password" --snapshotter native "$ref"; then
        fail "ctr pull with a wrong password succeeded"
    fi
    assert_match "$OUT" "$REFUSED" "ctr pull output"
    [[ -z $(ctr images ls -q | grep -Fx "$ref") ]] || fail "image present after the refused pulls"
}

# the challenge of GET /v2/: sets REALM and SERVICE
read_challenge() {
    local chal
    chal=$(acurl -D - -o /dev/null "$U/v2/" | tr -d '\r' | awk 'tolower($1)=="www-authenticate:"{sub(/^[^:]*:[ ]*/, ""); print}')
    REALM=$(sed -n 's/.*realm="\([^"]*\)".*/\1/p' <<<"$chal")
    SERVICE=$(sed -n 's/.*service="\([^"]*\)".*/\1/p' <<<"$chal")
    [[ -n $REALM && -n $SERVICE ]] || fail "no realm/service in [$chal]"
}
granted() { # JWT: its non-empty grants as name=action,action lines
    jwt_payload "$1" | jq -r '.access[]?|select((.actions|length)>0)|"\(.name)=\(.actions|sort|join(","))"' | sort | paste -sd' '
}

c_token_endpoint() {
    local tok code h layer
    read_challenge
    # alice: what she asks for and may have, nothing else (never an error for asking more)
    acurl -f -u "alice:$ALICE_PASS" -o "$W/tok-alice.json" \
        "$REALM?service=$SERVICE&scope=repository:alice/private:pull,push&scope=repository:docker/busybox:pull"
    tok=$(jq -r .token "$W/tok-alice.json")
    jwt_payload "$tok"; echo
    assert_eq "$(granted "$tok")" "alice/private=pull,push" "alice's grants"
    assert_eq "$(jwt_payload "$tok" | jq -r '[.iss, .sub, .aud]|join(" ")')" "berth alice $SERVICE" "iss sub aud"
    assert_eq "$(http_code -H "Authorization: Bearer $tok" -H "Accept: $ACCEPT_ALL" "$U/v2/alice/private/manifests/v1")" 200 \
        "GET alice/private manifest with alice's token"
    echo "$tok" >"$W/state/alice_token"
    # the token on a repository it does not name, which alice may read: 401 insufficient_scope
    h=$(acurl -D - -o /dev/null -H "Authorization: Bearer $tok" -H "Accept: $ACCEPT_ALL" "$U/v2/alice/public/manifests/v1" | tr -d '\r')
    printf '%s\n' "$h"
    assert_eq "$(awk 'NR==1{print $2}' <<<"$h")" 401 "alice/public with a token for alice/private"
    assert_contains "$h" 'error="insufficient_scope"' "challenge"
    assert_contains "$h" 'scope="repository:alice/public:pull"' "challenge"
    # anonymous: the public repository only; the private one answers 401
    acurl -f -o "$W/tok-anon.json" "$REALM?service=$SERVICE&scope=repository:alice/private:pull&scope=repository:alice/public:pull,push"
    tok=$(jq -r .token "$W/tok-anon.json")
    assert_eq "$(granted "$tok")" "alice/public=pull" "anonymous grants"
    assert_eq "$(http_code -H "Authorization: Bearer $tok" -H "Accept: $ACCEPT_ALL" "$U/v2/alice/private/manifests/v1")" 401 \
        "GET alice/private manifest with an anonymous token"
    # bob: nothing on alice/private, and a 404 as if it did not exist
    acurl -f -u "bob:$BOB_PASS" -o "$W/tok-bob.json" "$REALM?service=$SERVICE&scope=repository:alice/private:pull"
    tok=$(jq -r .token "$W/tok-bob.json")
    assert_eq "$(granted "$tok")" "" "bob's grants on alice/private"
    code=$(http_code -H "Authorization: Bearer $tok" -H "Accept: $ACCEPT_ALL" "$U/v2/alice/private/manifests/v1")
    assert_eq "$code $(jq -r '.errors[0].code' "$W/http.body")" "404 NAME_UNKNOWN" "GET alice/private manifest with bob's token"
    # refusals of the endpoint itself
    assert_eq "$(http_code -u "alice:wrong-password" "$REALM?service=$SERVICE&scope=repository:alice/private:pull")" 401 "token, wrong password"
    assert_eq "$(http_code -u "alice:$ALICE_PASS" "$REALM?service=not-$SERVICE&scope=repository:alice/private:pull")" 400 "token, wrong service"
    # cross-repository mount from a repository the caller may not read: no mount, a plain upload (202)
    layer=$(hcurl -f -H "Accept: $ACCEPT_ALL" "$U/v2/alice/private/manifests/v1" | jq -r '.layers[-1].digest')
    code=$(http_code -u "bob:$BOB_PASS" -X POST "$U/v2/bob/mounted/blobs/uploads/?mount=$layer&from=alice/private")
    assert_eq "$code" 202 "bob: POST upload with mount from alice/private"
    assert_eq "$(http_code -u "bob:$BOB_PASS" -I "$U/v2/bob/mounted/blobs/$layer")" 404 "the blob in bob/mounted"
}

c_restart_accounts() {
    local list
    assert_eq "$(stat -c %a "$W/data/token-signing-key.der")" 600 "mode of token-signing-key.der"
    # a token issued before the restart is still valid (the signing key is kept)
    assert_eq "$(http_code -H "Authorization: Bearer $(cat "$W/state/alice_token")" -H "Accept: $ACCEPT_ALL" \
        "$U/v2/alice/private/manifests/v1")" 200 "alice's token from before the restart"
    assert_eq "$(http_code -u "alice:$ALICE_PASS" "$U/v2/alice/private/tags/list")" 200 "alice's password"
    assert_eq "$(http_code -u "alice:$(cat "$W/state/pat_read")" "$U/v2/alice/private/tags/list")" 200 "alice's read PAT"
    if [[ -f $W/state/robot_pushed ]]; then # else the org check failed already
        assert_eq "$(http_code -u "acme+ci:$(cat "$W/state/robot_token")" "$U/v2/acme/app/tags/list")" 200 "the robot's token"
    fi
    assert_eq "$(http_code -u "bob:$BOB_PASS" "$U/v2/alice/private/tags/list")" 404 "bob on alice/private"
    assert_eq "$(http_code -H "Accept: $ACCEPT_ALL" "$U/v2/alice/public/manifests/v1")" 200 "anonymous GET of the public repository"
    list=$(env -u BERTH_BIN "$BERTH_BIN" user list --data-dir "$W/data")
    printf '%s\n' "$list"
    grep -qxP 'acme\+ci\trobot' <<<"$list" || fail "berth user list lacks acme+ci<TAB>robot"
}

# ------------------------------------------------------------ search ---
# docker search and podman search (GET /v1/search, docs/index.md). Repositories, all holding the umoci
# image, with what ranks them for the term "web" (tier, then stars):
#   web               official, admin's     public   2 stars   exact
#   alice/webapp                            public   2 stars   prefix (of a path component)
#   alice/web                               public   1 star    prefix
#   bob/cobweb                              public   1 star    substring
#   alice/secret-web                        private  0 stars   substring
#   bob/other         "Tools for the Web"   public   3 stars   description only
# Stars decide inside a tier, against the name order (alice/webapp before alice/web, bob/cobweb before
# alice/secret-web). No other repository of this run has "web" in its name or description.
#
# The docker CLI sorts the page it gets by stars, most first (sort.Slice on StarCount, which for so few
# results is Go's insertion sort and keeps the registry's order among equal stars): docker shows bob/other
# first although berth ranks it last. berth's ranking shows in docker's output in which repositories
# make the page (--limit) and in the order of equal stars (web before alice/webapp, against the name
# order). podman shows the page in the registry's order.
SEARCH_LONG='The web application of Alice, with its short description that is exactly one hundred characters long'

# berth's ranking for "web": anonymous callers and bob; alice and admin (who may read alice/secret-web)
SEARCH_RANK_PUBLIC='web alice/webapp alice/web bob/cobweb bob/other'
SEARCH_RANK_ALICE='web alice/webapp alice/web bob/cobweb alice/secret-web bob/other'

c_search_setup() {
    assert_eq "${#SEARCH_LONG}" 100 "length of the long description"
    local r a=$ADMIN_USER:$ADMIN_PASS al=alice:$ALICE_PASS b=bob:$BOB_PASS
    skopeo copy -q --dest-tls-verify=false --dest-creds "$a" "oci:$W/oci:v1" "docker://$R/web:v1"
    for r in alice/web alice/webapp alice/secret-web; do
        skopeo copy -q --dest-tls-verify=false --dest-creds "$al" "oci:$W/oci:v1" "docker://$R/$r:v1"
    done
    for r in bob/other bob/cobweb; do
        skopeo copy -q --dest-tls-verify=false --dest-creds "$b" "oci:$W/oci:v1" "docker://$R/$r:v1"
    done
    # descriptions and visibility (new repositories are private by default)
    api 200 "$a" PATCH /repositories/web '{"visibility":"public","description":"The official web server"}'
    api 200 "$al" PATCH /repositories/alice/web '{"visibility":"public","description":"Alice web front end"}'
    api 200 "$al" PATCH /repositories/alice/webapp "{\"visibility\":\"public\",\"description\":\"$SEARCH_LONG\"}"
    assert_eq "$(jq -r .description "$W/api.body")" "$SEARCH_LONG" "description of alice/webapp"
    api 400 "$al" PATCH /repositories/alice/webapp "{\"description\":\"${SEARCH_LONG}!\"}"
    assert_eq "$(jq -r '.errors[0].code' "$W/api.body")" INVALID "a 101-character description"
    api 200 "$al" PATCH /repositories/alice/secret-web '{"description":"Private web repository of alice"}'
    api 200 "$b" PATCH /repositories/bob/other '{"visibility":"public","description":"Tools for the Web"}'
    api 200 "$b" PATCH /repositories/bob/cobweb '{"visibility":"public"}'
    api 403 "$b" PATCH /repositories/alice/web '{"description":"bob was here"}'
    # stars, by several users (a second PUT by the same user counts once)
    for r in "$a" "$al" "$a"; do api 204 "$r" PUT /repositories/web/star; done
    for r in "$a" "$al" "$b"; do api 204 "$r" PUT /repositories/bob/other/star; done
    api 204 "$al" PUT /repositories/alice/webapp/star
    api 204 "$b" PUT /repositories/alice/webapp/star
    api 204 "$a" PUT /repositories/alice/web/star
    api 204 "$b" PUT /repositories/bob/cobweb/star
    api 404 "$b" PUT /repositories/alice/secret-web/star
    api 401 '' PUT /repositories/web/star
    local want='' got=''
    for r in web:2 alice/webapp:2 alice/web:1 bob/cobweb:1 alice/secret-web:0 bob/other:3; do
        api 200 "$a" GET "/repositories/${r%:*}"
        got+="${r%:*}:$(jq -r .star_count "$W/api.body") "
        want+="$r "
    done
    assert_eq "$got" "$want" "star counts"
    # what berth answers (the order docker and podman get)
    assert_eq "$(acurl -f "$U/v1/search?q=web" | jq -r '[.results[].name]|join(" ")')" "$SEARCH_RANK_PUBLIC" \
        "GET /v1/search?q=web (anonymous)"
    assert_eq "$(acurl -f -u "$al" "$U/v1/search?q=web" | jq -r '[.results[].name]|join(" ")')" "$SEARCH_RANK_ALICE" \
        "GET /v1/search?q=web (alice)"
}

# The rows `docker search --format "$SEARCH_FMT"` prints (IsOfficial is "[OK]" or empty): the page in
# berth's order, sorted by the CLI by stars (ties keep berth's order).
SEARCH_FMT='{{.Name}}\t{{.StarCount}}\t{{.IsOfficial}}'
search_rows_public() {
    printf '%s\t%s\t%s\n' bob/other 3 '' web 2 '[OK]' alice/webapp 2 '' alice/web 1 '' bob/cobweb 1 ''
}
search_rows_alice() {
    printf '%s\t%s\t%s\n' bob/other 3 '' web 2 '[OK]' alice/webapp 2 '' alice/web 1 '' bob/cobweb 1 '' \
        alice/secret-web 0 ''
}
# sout CMD...: run CMD, keep its standard output in $OUT (stderr, with the wrappers' trace, goes to the log)
sout() { OUT=$("$@"); printf '%s\n' "$OUT"; }
lines() { printf '%s\n' "$@"; }

c_docker_search() {
    local want
    # anonymous (a client config without any login): the default table, exactly (trailing blanks aside)
    sout docker_as anon search "$R/web"
    want=$(cat <<'EOF'
NAME           DESCRIPTION                                     STARS     OFFICIAL   AUTOMATED
bob/other      Tools for the Web                               3
web            The official web server                         2         [OK]
alice/webapp   The web application of Alice, with its short…   2
alice/web      Alice web front end                             1
bob/cobweb                                                     1
EOF
)
    assert_eq "$(sed 's/[[:space:]]*$//' <<<"$OUT")" "$want" "docker search table"
    sout docker_as anon search --format "$SEARCH_FMT" "$R/web"
    assert_eq "$OUT" "$(search_rows_public)" "docker search --format (anonymous)"
    # --no-trunc: the 100-character description whole
    sout docker_as anon search --no-trunc "$R/web"
    assert_eq "$(grep '^alice/webapp ' <<<"$OUT" | sed 's/  \+/|/g; s/|*$//')" "alice/webapp|$SEARCH_LONG|2" \
        "alice/webapp row of docker search --no-trunc"
    # --limit is the page size (n): the best ranked, not the most starred
    sout docker_as anon search --limit 2 --format '{{.Name}}' "$R/web"
    assert_eq "$OUT" "$(lines web alice/webapp)" "docker search --limit 2"
    sout docker_as anon search --limit 4 --format '{{.Name}}' "$R/web"
    assert_eq "$OUT" "$(lines web alice/webapp alice/web bob/cobweb)" "docker search --limit 4"
    # the filters apply to the page docker got
    sout docker_as anon search --filter stars=2 --format '{{.Name}}' "$R/web"
    assert_eq "$OUT" "$(lines bob/other web alice/webapp)" "docker search --filter stars=2"
    sout docker_as anon search --filter is-official=true --format '{{.Name}}' "$R/web"
    assert_eq "$OUT" web "docker search --filter is-official=true"
    sout docker_as anon search --filter is-official=false --format '{{.Name}}' "$R/web"
    assert_eq "$OUT" "$(lines bob/other alice/webapp alice/web bob/cobweb)" "docker search --filter is-official=false"
    sout docker_as anon search --limit 2 --filter is-official=false --format '{{.Name}}' "$R/web"
    assert_eq "$OUT" alice/webapp "docker search --limit 2 --filter is-official=false"
    # a term with a namespace (alice/web exact, alice/webapp prefix); a term nothing matches
    sout docker_as anon search --limit 1 --format '{{.Name}}' "$R/alice/web"
    assert_eq "$OUT" alice/web "docker search --limit 1 alice/web"
    sout docker_as anon search --format '{{.Name}}' "$R/alice/web"
    assert_eq "$OUT" "$(lines alice/webapp alice/web)" "docker search alice/web (sorted by stars)"
    sout docker_as anon search --format '{{.Name}}' "$R/no-such-thing"
    assert_eq "$OUT" "" "docker search no-such-thing"
}

# docker sends credentials with a search only when its login left an identity token: it then asks the
# token endpoint (grant_type=refresh_token, scope registry:catalog:search) and searches with the bearer
# token. berth's docker login gives one, so a logged-in user sees what they may read.
c_docker_search_login() {
    docker_login_as search-alice alice "$ALICE_PASS"
    jq -e --arg r "$R" '.auths[$r].identitytoken' "$W/dockercfg-search-alice/config.json" >/dev/null ||
        fail "docker login stored no identity token"
    sout docker_as search-alice search --format "$SEARCH_FMT" "$R/web"
    assert_eq "$OUT" "$(search_rows_alice)" "docker search as alice"
    sout docker search --format "$SEARCH_FMT" "$R/web"
    assert_eq "$OUT" "$(search_rows_alice)" "docker search as admin"
    docker_login_as search-bob bob "$BOB_PASS"
    sout docker_as search-bob search --format "$SEARCH_FMT" "$R/web"
    assert_eq "$OUT" "$(search_rows_public)" "docker search as bob"
    docker_as search-alice logout "$R"
    sout docker_as search-alice search --format "$SEARCH_FMT" "$R/web"
    assert_eq "$OUT" "$(search_rows_public)" "docker search after alice's logout"
}

# podman prints names with the registry host, in the registry's order. It sends no credentials to
# /v1/search (containers/image asks it with noAuth), so although it is logged in as admin it gets the
# anonymous answer.
c_podman_search() {
    local want
    # shellcheck disable=SC2086 # the names are words
    want=$(lines $SEARCH_RANK_PUBLIC | sed "s|^|$R/|")
    sout podman search --format '{{.Name}}' "$R/web"
    assert_eq "$OUT" "$want" "podman search --format {{.Name}}"
    # the default table: NAME and DESCRIPTION, descriptions cut to 44 characters and "..."
    sout podman search "$R/web"
    assert_eq "$(sed 's/  \+/|/g; s/|*$//' <<<"$OUT")" "$(lines 'NAME|DESCRIPTION' \
        "$R/web|The official web server" "$R/alice/webapp|${SEARCH_LONG:0:44}..." "$R/alice/web|Alice web front end" \
        "$R/bob/cobweb" "$R/bob/other|Tools for the Web")" "podman search table"
    sout podman search --limit 2 --format '{{.Name}}' "$R/web"
    assert_eq "$OUT" "$(lines "$R/web" "$R/alice/webapp")" "podman search --limit 2"
    sout podman search --filter stars=2 --format '{{.Name}} {{.Stars}} {{.Official}}' "$R/web"
    assert_eq "$OUT" "$(lines "$R/web 2 [OK]" "$R/alice/webapp 2 " "$R/bob/other 3 ")" "podman search --filter stars=2"
    sout podman search --filter is-official=true --format '{{.Name}}' "$R/web"
    assert_eq "$OUT" "$R/web" "podman search --filter is-official=true"
    sout podman search --no-trunc --format '{{.Name}}|{{.Description}}' "$R/alice/webapp"
    assert_eq "$OUT" "$R/alice/webapp|$SEARCH_LONG" "podman search --no-trunc"
}

# ------------------------------------------------------------ run them ---
start_dockerd
run_check "registry: GET /v2/ answers with API version header" c_v2_base
run_check "auth: anonymous GET /v2/ gets 401 and a challenge; wrong password 401; admin 200" c_auth_base
run_check "docker: engine starts (vfs, private sockets)" c_docker_engine
run_check "login: docker, podman, skopeo, buildah log in as admin" c_login_admin
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
run_check "accounts: alice (berth user add while serving / htpasswd), bob (POST /api/v1/users)" c_accounts
run_check "docker login: wrong password refused, right password accepted" c_docker_login
run_check "docker: alice pushes to her namespace; after logout, pull and push of it are refused" c_docker_own_namespace
berth_check "visibility: PATCH makes alice/public public; anonymous docker pull and skopeo copy work" c_public_repo
berth_check "second user: bob cannot push into alice's namespace (denied) nor pull her private repo" c_second_user
berth_check "PAT: read-write token as docker password pushes; read token pulls, push denied; deleted token fails" c_pat
berth_check "org: robot acme+ci logs in with docker, pushes to acme/ once its team has write" c_org_robot
run_check "podman login/logout, skopeo login/logout; inspect of a private repo fails after logout" c_podman_skopeo_login
run_check "containerd: ctr pull --user of a private repo; without or with wrong credentials refused" c_ctr_user
berth_check "token endpoint: grants, insufficient_scope, 404 for strangers, no mount without read" c_token_endpoint
berth_check "search set-up: skopeo pushes web (admin), alice/*, bob/*; descriptions (100 chars; 101 refused), visibility, stars" c_search_setup
berth_check "docker search: the page in rank order (exact, prefix, substring, description; stars), shown by stars; table, --no-trunc, --limit, --filter" c_docker_search
berth_check "docker search: logged in (identity token) alice and admin see alice's private repo, bob does not; after logout hidden" c_docker_search_login
berth_check "podman search: names with host in rank order, table, --limit, --filter, --no-trunc" c_podman_search
restart_registry
run_check "registry: SIGTERM stops it cleanly; restarted on the same data, content is served" c_restart
berth_check "accounts, PATs, robot token, pre-restart access token and visibility survive the restart" c_restart_accounts

say ""
if ((FAIL)); then
    say "failed checks:"
    for f in "${FAILED[@]}"; do say "  - $f"; done
fi
say "$PASS passed, $FAIL failed"
((FAIL == 0))
