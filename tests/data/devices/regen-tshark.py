#!/usr/bin/env python3
"""Regenerates tests/data/devices/expected.tsv, the device-discovery reference, from
tshark's decoding of the same captures (TShark 4.0.17, Debian 12 made the committed file).

One row per device (source MAC) of each capture:
  file  mac  vendor  names  type
vendor: tshark's eth.src.oui_resolved (Wireshark's manuf), or "-" where it has none;
names:  what tshark decodes as the device naming itself, comma-separated, or "-":
        DHCP option 12 in a client's DISCOVER/REQUEST/INFORM, for the client's hardware
        address (chaddr: the sender, or a host behind a DHCP relay, listed then even
        though it sends no frame itself),
        NetBIOS datagram source names (<00> or <20>), LLDP system name, CDP device ID;
type:   the kind the decoded facts state, or "-" where they state none:
        CDP capabilities (switch bit -> switch, else router bit -> router), LLDP enabled
        capabilities (bridge -> switch, WLAN AP -> access_point, router -> router,
        telephone -> phone), a virtual NIC vendor (VMware, PCS = VirtualBox) ->
        virtual_machine, DHCP vendor class MSFT -> workstation, a host name saying MacBook
        -> laptop, sending DHCP offers/acks naming itself (its source address) as the
        router -> gateway, other DHCP offers/acks -> server, IPv6 router advertisements
        with a router lifetime above 0 -> gateway, with lifetime 0 -> router; for the
        lab hosts the roles the
        corpus states (MANIFEST: gateway 10.10.0.1; benign_office: "one workstation
        (10.10.0.20)"; 10.10.0.10 the server every attack and login targets).
Devices that send nothing tshark can attribute (no source MAC) are not listed.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)
FILES = [
    "malformed/tcpdump-tests/eapon1.pcap",
    "malformed/tcpdump-tests/LLDP_and_CDP.pcap",
    "malformed/tcpdump-tests/3560_CDP.pcap",
    "malformed/tcpdump-tests/lldp_mudurl.pcap",
    "malformed/tcpdump-tests/dcb_ets.pcap",
    "malformed/tcpdump-tests/dhcp-rfc3004.pcap",
    "malformed/tcpdump-tests/dhcp-rfc5859.pcap",
    "malformed/tcpdump-tests/dhcp-mud.pcap",
    "malformed/tcpdump-tests/dhcp-option-108.pcapng",
    "malformed/tcpdump-tests/icmpv6-ra-pref64.pcap",
    "malformed/tcpdump-tests/icmpv6.pcap",
    "malformed/tcpdump-tests/icmpv6_opt24.pcap",
] + sorted(
    os.path.join("corpus", d, f)
    for d in ("attacks", "benign", "credentials")
    for f in os.listdir(os.path.join(DATA, "corpus", d))
    if f.endswith(".pcap")
)
LAB_NET = "10.10.0."
FIELDS = [
    "eth.src", "eth.src.oui_resolved", "dhcp.option.dhcp", "dhcp.hw.mac_addr",
    "dhcp.option.hostname", "dhcp.option.vendor_class_id", "nbdgm.source_name",
    "lldp.tlv.system.name", "lldp.tlv.enable_system_cap", "cdp.deviceid", "cdp.capabilities",
    "dhcp.option.router", "ip.src", "icmpv6.type", "icmpv6.nd.ra.router_lifetime",
    "eth.dst", "ip.dst", "tcp.flags.syn", "tcp.flags.ack", "arp.duplicate-address-detected",
    "arp.src.hw_mac", "icmp.type",
]


def tshark(path):
    args = ["tshark", "-r", path, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for f in FIELDS:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        yield dict(zip(FIELDS, line.split("\t")))


def lab_roles(rel, devices):
    """Roles in the lab captures (local network 10.10.0.0/24) from tshark's fields:
    gateway: at least 10 frames sent from a non-local IPv4 source and 10 received for a
    non-local destination (it routes), unless tshark flags it for claiming addresses in ARP
    that another MAC holds (arp.duplicate-address-detected: a man in the middle, for which
    no role is stated);
    server: sends a SYN-ACK from a local address; workstation: sends a SYN from a local
    address and no SYN-ACK. The corpus agrees where it says: MANIFEST "gateway 10.10.0.1",
    benign_office "one workstation (10.10.0.20)", 10.10.0.10 the victim server."""
    count = {}
    def bump(mac, key):
        count.setdefault(mac, {}).setdefault(key, 0)
        count[mac][key] += 1
    local = lambda ip: ip.startswith(LAB_NET)
    for p in tshark(os.path.join(DATA, rel)):
        src, dst, sip, dip = p["eth.src"], p["eth.dst"], p["ip.src"], p["ip.dst"]
        if p["arp.duplicate-address-detected"] and p["arp.src.hw_mac"]:
            bump(p["arp.src.hw_mac"], "dup")
        if not sip:
            continue
        if not local(sip) and sip != "0.0.0.0":
            bump(src, "out")
        if not local(dip) and not dip.startswith(("224.", "239.", "255.")):
            bump(dst, "in")
        # TCP flags inside an ICMP error are the quoted packet's, not this frame's.
        if local(sip) and p["tcp.flags.syn"] in ("1", "True") and not p["icmp.type"]:
            bump(src, "synack" if p["tcp.flags.ack"] in ("1", "True") else "syn")
    for mac, c in count.items():
        if mac not in devices:
            continue
        if c.get("dup"):
            continue  # relays others' packets under their addresses: no role stated
        if c.get("out", 0) >= 10 and c.get("in", 0) >= 10:
            devices[mac]["lab_role"] = "gateway"
        elif c.get("synack"):
            devices[mac]["lab_role"] = "server"
        elif c.get("syn"):
            devices[mac]["lab_role"] = "workstation"


def main():
    rows = []
    for rel in FILES:
        devices = {}
        for p in tshark(os.path.join(DATA, rel)):
            mac = p["eth.src"]
            if not mac or int(mac[:2], 16) & 1:
                continue
            d = devices.setdefault(mac, {"vendor": "", "names": [], "facts": set()})
            d["vendor"] = d["vendor"] or p["eth.src.oui_resolved"]
            def name(n):
                if n and n not in d["names"]:
                    d["names"].append(n)
            kind = p["dhcp.option.dhcp"]
            client = p["dhcp.hw.mac_addr"]
            if kind in ("1", "3", "8") and client:
                # The client is chaddr: the sender itself, or a host behind a relay.
                c = devices.setdefault(client, {"vendor": "", "names": [], "facts": set()})
                if p["dhcp.option.hostname"] and p["dhcp.option.hostname"] not in c["names"]:
                    c["names"].append(p["dhcp.option.hostname"])
                if p["dhcp.option.vendor_class_id"].startswith("MSFT"):
                    c["facts"].add("workstation")
            if kind in ("2", "5"):
                d["facts"].add("dhcp_server")
                if p["dhcp.option.router"] and p["dhcp.option.router"] == p["ip.src"]:
                    d["facts"].add("gateway")
            src = p["nbdgm.source_name"]
            if src.endswith("<00>") or src.endswith("<20>"):
                name(src[:-4])
            if p["icmpv6.type"] == "134":
                lifetime = int(p["icmpv6.nd.ra.router_lifetime"] or 0)
                d["facts"].add("gateway" if lifetime > 0 else "router")
            name(p["lldp.tlv.system.name"])
            name(p["cdp.deviceid"])
            if p["cdp.capabilities"]:
                caps = int(p["cdp.capabilities"], 16)
                d["facts"].add("switch" if caps & 0x08 else "router" if caps & 0x01 else "")
            if p["lldp.tlv.enable_system_cap"]:
                caps = int(p["lldp.tlv.enable_system_cap"], 16)
                for bit, k in ((0x04, "switch"), (0x08, "access_point"), (0x10, "router"), (0x20, "phone")):
                    if caps & bit:
                        d["facts"].add(k)
        if rel.startswith("corpus/"):
            lab_roles(rel, devices)
        for mac, d in devices.items():
            facts = d["facts"] - {""}
            kind = "-"
            for k in ("phone", "access_point", "switch", "router"):
                if k in facts:
                    kind = k
                    break
            else:
                v = d["vendor"].lower()
                if "vmware" in v or v.startswith("pcs "):
                    kind = "virtual_machine"
                elif "workstation" in facts:
                    kind = "workstation"
                elif any("macbook" in n.lower() for n in d["names"]):
                    kind = "laptop"
                elif "gateway" in facts:
                    kind = "gateway"
                elif "dhcp_server" in facts:
                    kind = "server"
            if rel.startswith("corpus/"):
                kind = d.get("lab_role", "-")
            rows.append((rel, mac, d["vendor"] or "-", ",".join(d["names"]) or "-", kind))
    out = sys.stdout
    out.write("# file\tmac\tvendor (tshark)\tnames (tshark)\ttype\n")
    for r in rows:
        out.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
