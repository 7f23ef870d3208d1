#!/usr/bin/env python3
"""Writes netsentinel-core/data/oui.tsv, the IEEE MAC address registry NetSentinel embeds.

Source: Debian's ieee-data package (the IEEE Registration Authority's public listings
MA-L, MA-M, MA-S and IAB as CSV). Usage:

    curl -O http://deb.debian.org/debian/pool/main/i/ieee-data/ieee-data_20260625_all.deb
    dpkg-deb -x ieee-data_20260625_all.deb ieee
    python3 scripts/oui/make-oui.py ieee > netsentinel-core/data/oui.tsv

(Debian 12's own ieee-data, 20220827, lacks assignments made since; the committed file is
made from unstable's 20260625, "Update all files from ieee" on 2026-06-25.)

Output: one assignment per line, `PREFIX<TAB>ORGANIZATION`, PREFIX being 6 (MA-L, 24 bits),
7 (MA-M, 28 bits) or 9 (MA-S and IAB, 36 bits) upper-case hex digits, sorted. Addresses are
dropped (not needed, and most of the size). Lines starting with `#` are comments.
"""
import csv
import gzip
import os
import sys

FILES = ["oui.csv", "mam.csv", "oui36.csv", "iab.csv"]


def main():
    root = sys.argv[1]
    src = os.path.join(root, "usr", "share", "ieee-data")
    with gzip.open(os.path.join(root, "usr", "share", "doc", "ieee-data", "changelog.gz"), "rt") as f:
        version = f.readline().split("(")[1].split(")")[0]
    rows = {}
    for name in FILES:
        with open(os.path.join(src, name), newline="", encoding="utf-8") as f:
            for rec in csv.DictReader(f):
                prefix = rec["Assignment"].strip().upper()
                org = " ".join(rec["Organization Name"].split())
                if prefix and org:
                    rows[prefix] = org
    print(f"# IEEE MAC registry (MA-L, MA-M, MA-S, IAB) from Debian ieee-data {version}")
    for prefix in sorted(rows):
        print(f"{prefix}\t{rows[prefix]}")


if __name__ == "__main__":
    main()
