"""Tests of the Python binding, run by `cargo test` (netsentinel-ffi/tests/bindings.rs)
with NETSENTINEL_LIB naming the library cargo built, or by hand:

    NETSENTINEL_LIB=target/debug/libnetsentinel_ffi.so \
        python3 -m unittest discover -s netsentinel-ffi/bindings/python
"""

import shutil
import socket
import struct
import tempfile
import time
import unittest
from pathlib import Path

import netsentinel
from netsentinel import Engine, NetSentinelError, Result, Vault, WrongPassphrase

CORPUS = Path(__file__).resolve().parents[3] / "tests" / "data" / "corpus"


def ethernet_tcp(src: str, dst: str, sport: int, dport: int, flags: int) -> bytes:
    """An Ethernet/IPv4/TCP frame without payload (checksums left zero: not checked)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 1024, 0, 0)
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )
    eth = bytes.fromhex("020000000002" "020000000001" "0800")
    return eth + ip + tcp


class EngineTest(unittest.TestCase):
    def test_version_and_abi(self):
        self.assertTrue(netsentinel.version().startswith("netsentinel-ffi/"))
        self.assertEqual(netsentinel.load().ns_abi_version(), netsentinel.ABI_VERSION)

    def test_a_scan_is_found_and_records_are_dicts(self):
        with Engine() as engine:
            engine.analyze_file(CORPUS / "attacks" / "scan_syn.pcap")
            records = engine.poll()
            self.assertEqual(engine.poll(), [], "poll drains the queue")
            self.assertEqual(engine.dropped, 0)
            summary = engine.summary()
        detectors = {r["detector"] for r in records if r["type"] == "alert"}
        self.assertIn("port_scan", detectors)
        self.assertTrue(any(r["type"] == "incident" for r in records))
        self.assertEqual(summary["traffic"]["packets"], 2012)

    def test_callbacks_get_records_in_order_and_the_queue_gets_the_rest(self):
        capture = CORPUS / "attacks" / "brute_ftp.pcap"
        with Engine() as engine:
            engine.analyze_file(capture)
            everything = engine.poll()
        alerts = []
        with Engine() as engine:
            engine.on_alert(alerts.append)
            engine.analyze_file(capture)
            rest = engine.poll()
        self.assertEqual(alerts, [r for r in everything if r["type"] == "alert"])
        self.assertEqual(rest, [r for r in everything if r["type"] == "incident"])

    def test_an_exception_in_a_callback_does_not_cross_the_library(self):
        class Boom(Exception):
            pass

        calls = []

        def explode(alert):
            calls.append(alert)
            raise Boom("callback bug")

        with Engine() as engine:
            engine.on_alert(explode)
            with self.assertRaises(Boom):
                engine.analyze_file(CORPUS / "attacks" / "scan_syn.pcap")
            # The engine is intact: it answers, and takes more input.
            self.assertEqual(engine.snapshot()["traffic"]["packets"], 2012)
            engine.on_alert(None)
            engine.feed(2_000_000_000_000_000, ethernet_tcp("10.0.0.1", "10.0.0.2", 1, 2, 0x02))
        self.assertGreaterEqual(len(calls), 1)

    def test_fed_packets_are_analysed_and_the_last_seconds_saved(self):
        start = 1_700_000_000_000_000
        with Engine() as engine:
            for port in range(1, 300):
                frame = ethernet_tcp("10.9.0.66", "10.9.0.10", 40000, port, 0x02)
                engine.feed(start + port * 1000, frame)
            engine.finish()
            detectors = {r.get("detector") for r in engine.poll()}
            self.assertIn("port_scan", detectors)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "last.pcap"
                engine.save_last(60, path)
                self.assertGreater(path.stat().st_size, 24 + 299 * 16)

    def test_errors_carry_codes_and_messages(self):
        with self.assertRaises(NetSentinelError) as e:
            Engine({"flow": {"max_flow": 5}})
        self.assertEqual(e.exception.code, Result.CONFIG)
        self.assertIn("max_flow", e.exception.message)
        with Engine() as engine:
            with self.assertRaises(NetSentinelError) as e:
                engine.analyze_file("/nonexistent/capture.pcap")
            self.assertEqual(e.exception.code, Result.SOURCE)
            with self.assertRaises(NetSentinelError) as e:
                engine.summary()
            self.assertEqual(e.exception.code, Result.EMPTY)
            with self.assertRaises(NetSentinelError) as e:
                engine.stop_live()
            self.assertEqual(e.exception.code, Result.NOT_RUNNING)
        engine.close()  # twice is fine
        with self.assertRaises(NetSentinelError) as e:
            engine.poll()
        self.assertEqual(e.exception.code, Result.INVALID_HANDLE)


class VaultTest(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="ns-py-vault-"))

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_credentials_found_are_stored_and_failures_told_apart(self):
        path = self.dir / "creds.vault"
        with Engine() as engine, Vault.create(path, "correct horse") as vault:
            engine.analyze_file(CORPUS / "credentials" / "cred_telnet.pcap")
            added = vault.add_credentials(engine)
            self.assertGreaterEqual(added, 1)
            self.assertEqual(vault.add_credentials(engine), 0)
        with self.assertRaises(WrongPassphrase):
            Vault.open(path, "wrong")
        with self.assertRaises(NetSentinelError) as e:
            Vault.create(path, "correct horse")
        self.assertEqual(e.exception.code, Result.ALREADY_EXISTS)
        with Vault.open(path, "correct horse") as vault:
            records = vault.records()
        self.assertEqual(len(records), added)
        self.assertEqual(records[0]["protocol"], "telnet")
        self.assertNotEqual(records[0]["secret"], records[0]["masked_secret"])
        damaged = bytearray(path.read_bytes())
        damaged[len(damaged) // 2] ^= 0x55
        path.write_bytes(bytes(damaged))
        with self.assertRaises(NetSentinelError) as e:
            Vault.open(path, "correct horse")
        self.assertEqual(e.exception.code, Result.VAULT_DAMAGED)


class LiveTest(unittest.TestCase):
    """Live capture on loopback only; skipped without root or the `live` feature."""

    def test_loopback_datagrams_reach_the_callback_thread_and_the_snapshot(self):
        engine = Engine({"capture": {"bpf_filter": "udp and port 47998"}})
        try:
            engine.start_live("lo")
        except NetSentinelError as e:
            engine.close()
            if e.code in (Result.UNSUPPORTED, Result.SOURCE):
                self.skipTest(f"no live capture here: {e}")
            raise
        try:
            with self.assertRaises(NetSentinelError) as busy:
                engine.feed(1, b"\0" * 60)
            self.assertEqual(busy.exception.code, Result.BUSY)
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            seen = 0
            for _ in range(100):
                for _ in range(10):
                    sender.sendto(b"netsentinel", ("127.0.0.1", 47998))
                time.sleep(0.02)
                seen = engine.snapshot()["traffic"]["packets"]
                if seen >= 10:
                    break
            sender.close()
            self.assertGreaterEqual(seen, 10)
        finally:
            engine.stop_live()
            engine.close()


if __name__ == "__main__":
    unittest.main()
