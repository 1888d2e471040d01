#!/usr/bin/env bash
# A cluster of N "hosts" on this machine: one network namespace per host, joined by a bridge, for testing
# multi-host runs (MPI over TCP, the coordinator on a routable address) without other machines.
#
#   scripts/netns-cluster.sh up N        make hosts <name>-h1..<name>-hN (N >= 1) and print how to launch on them
#   scripts/netns-cluster.sh down        remove everything `up` made, and nothing else
#   scripts/netns-cluster.sh exec HOST CMD...   run CMD on HOST (its namespace, with HOST as its host name)
#
# Settings (environment):
#   NETNS_CLUSTER_NAME    cluster name, 1-8 of [a-z0-9] (default: adan); clusters with other names coexist
#   NETNS_CLUSTER_STATE   state directory (default: /run/adan-netns/<name>): hostfile, addresses ("HOST ADDRESS"
#                         lines), launcher-exec, env, and the list of what was made
#   NETNS_CLUSTER_SUBNET  first three octets of the /24 to use, e.g. 10.237.4 (default: the first 10.237.X.0/24
#                         that no interface or route of this machine uses)
#
# The bridge gets <subnet>.1 in this (the root) namespace; host i gets <subnet>.(10+i) on its eth0, with the
# loopback up. No default route, no forwarding, no NAT: a host reaches only the other hosts and the bridge address.
# `up` writes <state>/env with the variables that make `adan launch` (MPICH's Hydra) start its proxies on the
# hosts and MPI talk TCP over the bridge:
#   source <state>/env && bin/adan launch -n 2 --hostfile "$NETNS_HOSTFILE" --listen "$NETNS_BRIDGE_ADDRESS:0" -- train ...
# Needs root and iproute2 with `ip netns`. Idempotent: `up N` again repairs what is missing, `down` twice is a no-op.
set -euo pipefail

readonly root_dir=/run/adan-netns
name=${NETNS_CLUSTER_NAME:-adan}
state=${NETNS_CLUSTER_STATE:-$root_dir/$name}
self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

fail() {
    echo "netns-cluster: $*" >&2
    exit 1
}

usage() {
    echo "usage: scripts/netns-cluster.sh up N | down | exec HOST CMD..." >&2
    exit 2
}

require_namespaces() {
    [[ $(id -u) -eq 0 ]] || fail "network namespaces need root; run as root (or with sudo)"
    command -v ip >/dev/null 2>&1 || fail "'ip' not found; install iproute2 (apt-get install iproute2)"
    ip netns list >/dev/null 2>&1 || fail "'ip netns' is unavailable here ($(ip netns list 2>&1 | head -1)); a kernel with network namespaces and iproute2 are needed"
    command -v unshare >/dev/null 2>&1 || fail "'unshare' not found; install util-linux"
}

[[ $name =~ ^[a-z0-9]{1,8}$ ]] || fail "NETNS_CLUSTER_NAME '$name': use 1-8 characters of [a-z0-9] (it prefixes interface names, at most 15 characters)"

host_name() { echo "$name-h$1"; }
has_netns() { ip netns list | awk '{print $1}' | grep -qxF "$1"; }
bridge_name() { echo "${name}br"; }
veth_name() { echo "${name}v$1"; }

# Records one thing `up` made, once, so that `down` removes exactly those.
remember() {
    grep -qxF "$1" "$state/made" 2>/dev/null || echo "$1" >> "$state/made"
}

# Refuses to use a namespace or link of that name that this cluster did not make (someone else's, or the host's).
ours() {
    grep -qxF "$1 $2" "$state/made" 2>/dev/null || fail "a $1 named '$2' exists that cluster '$name' did not make; leaving it alone (choose another NETNS_CLUSTER_NAME)"
}

# The first 10.237.X that no address or route of the root namespace touches.
free_subnet() {
    local x
    for x in $(seq 0 255); do
        if ! ip -4 route show | grep -q "^10\.237\.$x\." && ! ip -4 -o addr show | grep -q " 10\.237\.$x\."; then
            echo "10.237.$x"
            return
        fi
    done
    fail "no free 10.237.X.0/24 left; set NETNS_CLUSTER_SUBNET"
}

write_launcher_exec() {
    # Hydra's ssh launcher runs `SCRIPT [ssh options] HOST COMMAND...`, COMMAND being one shell line split into
    # words as ssh would receive it; this stands in for ssh by entering HOST's namespace instead.
    cat > "$state/launcher-exec" <<EOF
#!/usr/bin/env bash
# Written by scripts/netns-cluster.sh for cluster '$name': an ssh stand-in for MPICH's Hydra
# (-launcher ssh -launcher-exec THIS). Skips ssh options, takes the host, runs the command line in its namespace.
set -euo pipefail
while [[ \$# -gt 0 && \$1 == -* ]]; do
    case \$1 in
        -[bcDEeFIiJLlmOopQRSWw]) shift 2 ;;
        *) shift ;;
    esac
done
[[ \$# -ge 2 ]] || { echo "launcher-exec: usage: launcher-exec [ssh options] HOST COMMAND..." >&2; exit 255; }
host=\$1
shift
NETNS_CLUSTER_NAME=$name NETNS_CLUSTER_STATE=$(printf %q "$state") exec $(printf %q "$self") exec "\$host" bash -c "\$*"
EOF
    chmod 755 "$state/launcher-exec"
}

up() {
    local count=$1 subnet bridge i host veth
    [[ $count =~ ^[1-9][0-9]*$ && $count -le 200 ]] || fail "up $count: the number of hosts must be 1..200"
    require_namespaces
    mkdir -p "$state"
    chmod 755 "$state"
    if [[ -f $state/count && $(< "$state/count") != "$count" ]]; then
        fail "cluster '$name' is up with $(< "$state/count") hosts; run 'scripts/netns-cluster.sh down' first"
    fi
    echo "$count" > "$state/count"
    bridge=$(bridge_name)
    if [[ -f $state/subnet ]]; then
        subnet=$(< "$state/subnet")
    else
        subnet=${NETNS_CLUSTER_SUBNET:-$(free_subnet)}
        [[ $subnet =~ ^10\.[0-9]+\.[0-9]+$ || $subnet =~ ^192\.168\.[0-9]+$ || $subnet =~ ^172\.(1[6-9]|2[0-9]|3[01])\.[0-9]+$ ]] \
            || fail "NETNS_CLUSTER_SUBNET '$subnet': give the first three octets of a private (RFC 1918) /24, e.g. 10.237.4"
        if ip -4 route show | grep -q "^${subnet//./\\.}\." || ip -4 -o addr show | grep -q " ${subnet//./\\.}\."; then
            fail "subnet $subnet.0/24 is already used on this machine; choose another NETNS_CLUSTER_SUBNET"
        fi
        echo "$subnet" > "$state/subnet"
    fi

    if ip link show "$bridge" >/dev/null 2>&1; then
        ours link "$bridge"
    else
        ip link add "$bridge" type bridge
        remember "link $bridge"
    fi
    # Frames between the hosts are not the host firewall's business (a FORWARD policy of DROP would cut them).
    ip link set "$bridge" type bridge nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0 2>/dev/null || true
    ip addr replace "$subnet.1/24" dev "$bridge"
    ip link set "$bridge" up

    : > "$state/hostfile.new"
    : > "$state/addresses.new"
    for i in $(seq 1 "$count"); do
        host=$(host_name "$i")
        veth=$(veth_name "$i")
        if has_netns "$host"; then
            ours netns "$host"
        else
            ip netns add "$host"
            remember "netns $host"
        fi
        if ! ip netns exec "$host" ip link show eth0 >/dev/null 2>&1; then
            if ip link show "$veth" >/dev/null 2>&1; then
                ours link "$veth"
                ip link del "$veth"
            fi
            ip link add "$veth" type veth peer name "${veth}p"
            remember "link $veth"
            ip link set "${veth}p" netns "$host"
            ip netns exec "$host" ip link set "${veth}p" name eth0
        fi
        ip link set "$veth" master "$bridge"
        ip link set "$veth" up
        ip netns exec "$host" ip link set lo up
        ip netns exec "$host" ip addr replace "$subnet.$((10 + i))/24" dev eth0
        ip netns exec "$host" ip link set eth0 up
        echo "$host" >> "$state/hostfile.new"
        echo "$host $subnet.$((10 + i))" >> "$state/addresses.new"
    done
    mv "$state/hostfile.new" "$state/hostfile"
    mv "$state/addresses.new" "$state/addresses"
    write_launcher_exec
    cat > "$state/env" <<EOF
# Written by scripts/netns-cluster.sh for cluster '$name' ($count hosts on $bridge, $subnet.0/24).
export NETNS_HOSTFILE=$state/hostfile
export NETNS_BRIDGE=$bridge
export NETNS_BRIDGE_ADDRESS=$subnet.1
export HYDRA_LAUNCHER=ssh
export HYDRA_LAUNCHER_EXEC=$state/launcher-exec
export HYDRA_IFACE=$bridge
export UCX_TLS=tcp
EOF
    echo "netns-cluster: '$name' is up: $count hosts ($(paste -sd' ' "$state/hostfile")) on $bridge, $subnet.0/24, bridge address $subnet.1"
    echo "netns-cluster: source $state/env && bin/adan launch -n $count --hostfile \"\$NETNS_HOSTFILE\" --listen \"\$NETNS_BRIDGE_ADDRESS:0\" -- train ..."
}

down() {
    local kind what pid
    require_namespaces
    if [[ ! -d $state ]]; then
        echo "netns-cluster: '$name' is not up"
        return 0
    fi
    if [[ -f $state/made ]]; then
        # Namespaces first: processes still inside one would keep it (and its veth) alive. Every host's processes are
        # killed, and gone, before any link goes: their connections then close as a host's would when its processes
        # die (peers hear it at once) rather than vanish with the link (peers notice only by timeouts).
        local deadline=$((SECONDS + 10))
        while read -r kind what; do
            if [[ $kind == netns ]] && has_netns "$what"; then
                for pid in $(ip netns pids "$what" 2>/dev/null); do
                    kill -KILL "$pid" 2>/dev/null || true
                done
            fi
        done < "$state/made"
        while read -r kind what; do
            if [[ $kind == netns ]] && has_netns "$what"; then
                while [[ -n $(ip netns pids "$what" 2>/dev/null) && $SECONDS -lt $deadline ]]; do
                    sleep 0.05
                done
                ip netns del "$what"
            fi
        done < "$state/made"
        while read -r kind what; do
            if [[ $kind == link ]] && ip link show "$what" >/dev/null 2>&1; then
                # A host's veth goes with its namespace, which the kernel removes asynchronously: on a busy machine it
                # can vanish between the check and the delete (the state was then left behind, seen once in the suite).
                ip link del "$what" 2>/dev/null || ! ip link show "$what" >/dev/null 2>&1 || fail "could not remove link '$what'"
            fi
        done < "$state/made"
    fi
    rm -rf "$state"
    [[ $(dirname "$state") != "$root_dir" ]] || rmdir "$root_dir" 2>/dev/null || true
    echo "netns-cluster: '$name' is down"
}

run_on() {
    local host=$1
    shift
    [[ $# -ge 1 ]] || usage
    require_namespaces
    [[ -f $state/hostfile ]] && grep -qxF "$host" "$state/hostfile" \
        || fail "no host '$host' in cluster '$name' (hosts: $(paste -sd' ' "$state/hostfile" 2>/dev/null || echo none; true)); run 'scripts/netns-cluster.sh up N' first"
    # Its own UTS namespace gives each host its own host name, as on separate machines.
    exec ip netns exec "$host" unshare --uts -- bash -c 'hostname "$0" && exec "$@"' "$host" "$@"
}

# One `up` or `down` at a time on this machine (they look for a free subnet and share interface names); the lock is
# on this script, so that it leaves no file behind.
locked() {
    exec 9< "$self"
    flock 9
    "$@"
}

case ${1:-} in
    up)
        [[ $# -eq 2 ]] || usage
        locked up "$2"
        ;;
    down)
        [[ $# -eq 1 ]] || usage
        locked down
        ;;
    exec)
        [[ $# -ge 3 ]] || usage
        shift
        run_on "$@"
        ;;
    *)
        usage
        ;;
esac
