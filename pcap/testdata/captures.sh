#!/bin/sh
# Makes the tcpdump-*.pcap and dumpcap-*.pcapng captures that reader_test.go
# reads. Run as root in a fresh network namespace from pcap/testdata:
#
#	unshare -n sh captures.sh
#
# It connects veth0 (02:00:00:00:00:01, 10.9.0.1) to veth1 (02:00:00:00:00:02,
# 10.9.0.2) in a second namespace, pings across it twice and pings 127.0.0.1
# once, and captures that with tcpdump 4.99 on "any" (LINUX_SLL and
# LINUX_SLL2) and on veth0, and with dumpcap on veth0 and lo. IPv6 is off so
# that nothing else is sent.
set -e
ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
unshare -n sleep 60 &
PEER=$!
sleep 0.2
ip link add veth0 address 02:00:00:00:00:01 type veth peer name veth1 address 02:00:00:00:00:02
ip link set veth1 netns $PEER
ip addr add 10.9.0.1/24 dev veth0
ip link set veth0 up
nsenter -t $PEER -n sh -c 'sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set lo up; ip addr add 10.9.0.2/24 dev veth1; ip link set veth1 up'
sleep 0.5
tcpdump -q -U -i any -y LINUX_SLL -w tcpdump-any-sll.pcap 2>/dev/null & T1=$!
tcpdump -q -U -i any -y LINUX_SLL2 -w tcpdump-any-sll2.pcap 2>/dev/null & T2=$!
tcpdump -q -U -i veth0 -w tcpdump-veth0.pcap 2>/dev/null & T3=$!
dumpcap -q -i veth0 -i lo -w dumpcap-veth0-lo.pcapng 2>/dev/null & T4=$!
sleep 2
ping -q -c 2 -i 0.2 10.9.0.2 >/dev/null
ping -q -c 1 127.0.0.1 >/dev/null
sleep 1
kill -INT $T1 $T2 $T3 $T4
wait $T1 $T2 $T3 $T4 || true
kill $PEER
