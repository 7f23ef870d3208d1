#!/usr/bin/env bash
# Records benign office traffic in a closed lab of network namespaces, the way the corpus
# under ../shared/corpus was made: real tools (curl, dig, ping, dnsmasq, Python's HTTP
# servers), captured on the LAN bridge. Used to train and to check the anomaly model.
#
#   sudo scripts/lab/make-benign.sh OUT.pcap SECONDS SEED
#
# Layout: LAN 10.10.0.0/24 on a bridge (gateway 10.10.0.1 running DNS, web server
# 10.10.0.10 with HTTP and HTTPS, workstations 10.10.0.20-.22); "internet" 203.0.113.50
# (HTTP and HTTPS) behind the gateway. Each workstation loops over everyday actions in a
# random order (seeded): look up names, fetch pages and files of a few kB to 800 kB over
# HTTP and HTTPS, run commands and copy files over SSH, ping. Nothing leaves the namespaces. Needs root, iproute2,
# tcpdump, dnsmasq, curl, dig, ping, openssl, python3, ethtool, ssh,
# sshd. Frames are cut to 80 bytes
# (headers and the start of the payload), as the corpus does for exfil_http, to keep the
# files small; lengths on the wire are kept.
set -euo pipefail
out=$(realpath -m "$1")
seconds=${2:-300}
seed=${3:-1}
p=nsb$$
work=$(mktemp -d)
cleanup() {
    set +e
    for pidf in "$work"/*.pid; do [ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null; done
    sleep 0.5
    for n in gw web inet ws0 ws1 ws2; do ip netns del "$p-$n" 2>/dev/null; done
    ip link del "$p-br" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

ip link add "$p-br" type bridge
ip link set "$p-br" up
# Neither IPv6 autoconfiguration nor multicast snooping noise on the bridge.
sysctl -qw "net.ipv6.conf.$p-br.disable_ipv6=1" || true

lan_host() { # name ip
    ip netns add "$p-$1"
    ip link add "$p-$1-l" type veth peer name eth0 netns "$p-$1"
    ip link set "$p-$1-l" master "$p-br" up
    ip netns exec "$p-$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$p-$1" addr add "$2/24" dev eth0
    ip -n "$p-$1" link set eth0 up
    ip -n "$p-$1" link set lo up
    # Real NICs put MTU-sized frames on the wire; without this, veth hands the capture
    # 64 kB segmentation-offload frames.
    ethtool -K "$p-$1-l" tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec "$p-$1" ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1 || true
}
lan_host gw 10.10.0.1
lan_host web 10.10.0.10
for i in 0 1 2; do
    lan_host "ws$i" "10.10.0.2$i"
    ip -n "$p-ws$i" route add default via 10.10.0.1
done
ip -n "$p-web" route add default via 10.10.0.1
ip netns add "$p-inet"
ip link add "$p-up" netns "$p-gw" type veth peer name eth0 netns "$p-inet"
ip netns exec "$p-inet" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip -n "$p-gw" addr add 203.0.113.1/24 dev "$p-up"
ip -n "$p-gw" link set "$p-up" up
ip -n "$p-inet" addr add 203.0.113.50/24 dev eth0
ip -n "$p-inet" link set eth0 up
ip -n "$p-inet" link set lo up
ip netns exec "$p-inet" ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec "$p-gw" ethtool -K "$p-up" tso off gso off gro off >/dev/null 2>&1 || true
ip -n "$p-inet" route add default via 203.0.113.1
ip netns exec "$p-gw" sysctl -qw net.ipv4.ip_forward=1

# Content: pages and files of several sizes, and a self-signed certificate.
mkdir -p "$work/www"
for size in 2 8 30 60 400 800; do
    head -c $((size * 1024)) /dev/urandom >"$work/www/file$size.bin"
done
for page in index news about report; do
    for _ in $(seq 60); do echo "<p>$page: the quick brown fox jumps over the lazy dog</p>"; done >"$work/www/$page.html"
done
# SSH: a throwaway host key and client key; root logs in with the key only.
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$work/userkey"
cat >"$work/sshd_config" <<EOF
Port 22
HostKey $work/hostkey
PermitRootLogin prohibit-password
AuthorizedKeysFile $work/userkey.pub
StrictModes no
UsePAM no
PidFile none
EOF
ssh_opts=(-i "$work/userkey" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lab.test \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat >"$work/https.py" <<'EOF'
import http.server, ssl, sys, os
os.chdir(sys.argv[1])
srv = http.server.ThreadingHTTPServer(("0.0.0.0", 443), http.server.SimpleHTTPRequestHandler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
bg() { # pidfile command...
    local name=$1
    shift
    "$@" >/dev/null 2>&1 &
    echo $! >"$work/$name.pid"
}
bg dns ip netns exec "$p-gw" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
    --listen-address=10.10.0.1 --address=/lab.test/10.10.0.10 \
    --address=/example.com/203.0.113.50 --address=/example.org/203.0.113.50
for n in web inet; do
    bg "$n-http" ip netns exec "$p-$n" python3 -m http.server 80 --directory "$work/www"
    bg "$n-https" ip netns exec "$p-$n" python3 "$work/https.py" "$work/www" "$work/cert.pem" "$work/key.pem"
done
bg sshd ip netns exec "$p-web" /usr/sbin/sshd -D -f "$work/sshd_config"
sleep 1.5
bg cap tcpdump -i "$p-br" -U -w "$out" -s 80
sleep 1

workstation() { # index
    local ns="$p-ws$1" end=$((SECONDS + seconds))
    RANDOM=$((seed * 100 + $1))
    local names=(intranet.lab.test www.example.com api.example.com mail.lab.test
        files.lab.test www.example.org cdn.example.com news.example.org)
    local servers=(10.10.0.10 203.0.113.50)
    local files=(index.html news.html about.html report.html file2.bin file8.bin
        file30.bin file60.bin)
    while [ $SECONDS -lt $end ]; do
        local name=${names[RANDOM % ${#names[@]}]}
        local file=${files[RANDOM % ${#files[@]}]}
        local server=$((RANDOM % 2)) big=$(((RANDOM % 2 + 1) * 400))
        server=${servers[server]}
        case $((RANDOM % 10)) in
        0) ip netns exec "$ns" dig +short +tries=1 +time=2 @10.10.0.1 "$name" ;;
        1) ip netns exec "$ns" curl -s -o /dev/null --max-time 10 "http://10.10.0.10/$file" ;;
        2) ip netns exec "$ns" curl -s -k -o /dev/null --max-time 10 "https://10.10.0.10/$file" ;;
        3) ip netns exec "$ns" curl -s -o /dev/null --max-time 10 "http://203.0.113.50/$file" ;;
        4) ip netns exec "$ns" curl -s -k -o /dev/null --max-time 10 "https://203.0.113.50/$file" ;;
        5) ip netns exec "$ns" ping -q -c 2 -i 0.5 10.10.0.1 ;;
        6) ip netns exec "$ns" curl -s -o /dev/null --max-time 20 "http://$server/file$big.bin" ;;
        7) ip netns exec "$ns" ssh "${ssh_opts[@]}" root@10.10.0.10 'uname -a; ls -la /etc | head -20; uptime' ;;
        8) ip netns exec "$ns" scp "${ssh_opts[@]}" "root@10.10.0.10:$work/www/file$big.bin" /dev/null ;;
        9) ip netns exec "$ns" dig +short +tries=1 +time=2 @10.10.0.1 MX lab.test ;;
        esac >/dev/null 2>&1 || true
        sleep "$((RANDOM % 5)).$((RANDOM % 10))"
    done
}
workers=()
for i in 0 1 2; do
    workstation "$i" &
    workers+=($!)
done
wait "${workers[@]}"
sleep 1
kill "$(cat "$work/cap.pid")"
sleep 1
echo "$out: $(tcpdump -r "$out" 2>/dev/null | wc -l) packets"
