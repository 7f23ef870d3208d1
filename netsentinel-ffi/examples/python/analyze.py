#!/usr/bin/env python3
"""Analyses a capture through the NetSentinel shared library and prints every alert and
incident record as a JSON line, in the order the engine wrote them (through callbacks).

    NETSENTINEL_LIB=target/release/libnetsentinel_ffi.so \
        python3 netsentinel-ffi/examples/python/analyze.py capture.pcap
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bindings" / "python"))

import netsentinel  # noqa: E402


def main() -> int:
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} CAPTURE", file=sys.stderr)
        return 2
    printed = 0

    def show(record: dict) -> None:
        nonlocal printed
        print(json.dumps(record, separators=(",", ":")))
        printed += 1

    try:
        with netsentinel.Engine() as engine:
            engine.on_alert(show)
            engine.on_incident(show)
            engine.analyze_file(sys.argv[1])
            summary = engine.summary()
    except netsentinel.NetSentinelError as e:
        print(f"analyze: {e}", file=sys.stderr)
        return 1
    print(
        f"{summary['traffic']['packets']} packets, {printed} records",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
