"""NetSentinel from Python: the engine's C API through ctypes (no compiled extension).

    import netsentinel

    with netsentinel.Engine() as engine:
        engine.on_alert(lambda alert: print(alert["severity"], alert["summary"]))
        engine.analyze_file("capture.pcap")
        for record in engine.poll():          # incidents (alerts went to the callback)
            print(record["type"], record["narrative"])
        print(engine.snapshot()["traffic"]["packets"])

The shared library is found, in order: the path given to ``load()``, the
``NETSENTINEL_LIB`` environment variable, ``libnetsentinel_ffi.so`` in the cargo target
directory of this checkout (release, then debug), the system's library path.

Every failure raises ``NetSentinelError`` (or a subclass) with the C API's result code and
message. An exception raised inside a callback does not cross into the library: it is kept
and raised from the call that analysed the packet (or from ``stop_live``/``poll`` during
live capture).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

__all__ = [
    "ABI_VERSION",
    "Engine",
    "NetSentinelError",
    "Result",
    "Vault",
    "WrongPassphrase",
    "load",
    "version",
]

#: The C API's ABI version this module was written for.
ABI_VERSION = 3


class Result(enum.IntEnum):
    """The C API's result codes (``NS_RESULT_*``)."""

    OK = 0
    NULL_ARGUMENT = 1
    INVALID_HANDLE = 2
    PANIC = 3
    POISONED = 4
    INVALID_UTF8 = 5
    CONFIG = 6
    SOURCE = 7
    IO = 8
    BUFFER_TOO_SMALL = 9
    EMPTY = 10
    NO_RING = 11
    BUSY = 12
    UNSUPPORTED = 13
    WRONG_PASSPHRASE = 14
    VAULT_DAMAGED = 15
    ALREADY_EXISTS = 16
    NOT_RUNNING = 17
    INVALID_ARGUMENT = 18


class NetSentinelError(Exception):
    """A call into the library failed: ``code`` says how, ``message`` says why."""

    def __init__(self, code: Result, message: str):
        super().__init__(f"{code.name.lower()}: {message}")
        self.code = code
        self.message = message


class WrongPassphrase(NetSentinelError):
    """The passphrase does not open the vault."""


RecordCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)

_lib: Optional[ctypes.CDLL] = None
_lib_lock = threading.Lock()


def _candidates() -> Iterator[str]:
    env = os.environ.get("NETSENTINEL_LIB")
    if env:
        yield env
    here = Path(__file__).resolve()
    for parent in here.parents:
        target = parent / "target"
        if target.is_dir():
            for profile in ("release", "debug"):
                yield str(target / profile / "libnetsentinel_ffi.so")
            break
    found = ctypes.util.find_library("netsentinel_ffi")
    if found:
        yield found


def _declare(lib: ctypes.CDLL) -> None:
    c = ctypes
    engine_p = c.c_void_p
    table = {
        "ns_result_str": (c.c_char_p, [c.c_int]),
        "ns_last_error": (c.c_size_t, [c.c_char_p, c.c_size_t]),
        "ns_version": (c.c_char_p, []),
        "ns_abi_version": (c.c_uint32, []),
        "ns_string_free": (None, [c.c_void_p]),
        "ns_engine_new": (c.c_int, [c.c_char_p, c.POINTER(engine_p)]),
        "ns_engine_free": (None, [engine_p]),
        "ns_engine_set_alert_callback": (c.c_int, [engine_p, RecordCallback, c.c_void_p]),
        "ns_engine_set_incident_callback": (c.c_int, [engine_p, RecordCallback, c.c_void_p]),
        "ns_engine_feed": (c.c_int, [engine_p, c.c_int64, c.c_uint32, c.c_char_p, c.c_size_t]),
        "ns_engine_analyze_file": (c.c_int, [engine_p, c.c_char_p]),
        "ns_engine_finish": (c.c_int, [engine_p]),
        "ns_engine_poll": (
            c.c_int,
            [engine_p, c.c_char_p, c.c_size_t, c.POINTER(c.c_size_t)],
        ),
        "ns_engine_dropped": (c.c_int, [engine_p, c.POINTER(c.c_uint64)]),
        "ns_engine_snapshot_json": (c.c_int, [engine_p, c.POINTER(c.c_void_p)]),
        "ns_engine_summary_json": (c.c_int, [engine_p, c.POINTER(c.c_void_p)]),
        "ns_engine_save_last": (c.c_int, [engine_p, c.c_uint64, c.c_char_p]),
        "ns_engine_start_live": (c.c_int, [engine_p, c.c_char_p]),
        "ns_engine_stop_live": (c.c_int, [engine_p]),
        "ns_vault_create": (c.c_int, [c.c_char_p, c.c_char_p, c.POINTER(c.c_void_p)]),
        "ns_vault_open": (c.c_int, [c.c_char_p, c.c_char_p, c.POINTER(c.c_void_p)]),
        "ns_vault_records_json": (c.c_int, [c.c_void_p, c.POINTER(c.c_void_p)]),
        "ns_vault_add_credentials": (
            c.c_int,
            [c.c_void_p, engine_p, c.POINTER(c.c_size_t)],
        ),
        "ns_vault_free": (None, [c.c_void_p]),
    }
    for name, (restype, argtypes) in table.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


def load(path: Optional[Union[str, os.PathLike]] = None) -> ctypes.CDLL:
    """Loads the shared library (once) and checks its ABI version."""
    global _lib
    with _lib_lock:
        if _lib is not None and path is None:
            return _lib
        tried = []
        for candidate in [os.fspath(path)] if path is not None else _candidates():
            if os.sep in candidate and not os.path.exists(candidate):
                tried.append(candidate)
                continue
            try:
                lib = ctypes.CDLL(candidate)
            except OSError as e:
                tried.append(f"{candidate} ({e})")
                continue
            _declare(lib)
            abi = lib.ns_abi_version()
            if abi != ABI_VERSION:
                raise ImportError(
                    f"{candidate} has C ABI version {abi}; this module needs {ABI_VERSION}"
                )
            _lib = lib
            return lib
        raise ImportError(
            "libnetsentinel_ffi.so not found (set NETSENTINEL_LIB); tried: " + ", ".join(tried)
        )


def version() -> str:
    """The library's version, e.g. ``netsentinel-ffi/0.1.0``."""
    return load().ns_version().decode()


def _check(code: int) -> None:
    if code == Result.OK:
        return
    lib = load()
    size = lib.ns_last_error(None, 0)
    buf = ctypes.create_string_buffer(size + 1)
    lib.ns_last_error(buf, size + 1)
    result = Result(code)
    kind = WrongPassphrase if result == Result.WRONG_PASSPHRASE else NetSentinelError
    raise kind(result, buf.value.decode(errors="replace"))


def _take_json(pointer: ctypes.c_void_p) -> Any:
    lib = load()
    try:
        return json.loads(ctypes.string_at(pointer.value).decode())
    finally:
        lib.ns_string_free(pointer)


Record = dict


class _Handle:
    """Owns a handle of the library, freed by ``close()``, ``with`` or the collector."""

    _handle: Optional[ctypes.c_void_p] = None
    _free_name = ""

    def close(self) -> None:
        """Frees the handle. Safe to call twice."""
        if self._handle is not None:
            getattr(load(), self._free_name)(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Engine(_Handle):
    """An engine with NetSentinel's built-in detectors.

    ``config`` is a dict (or JSON text) of the configuration keys in docs/CONFIG.md; the
    defaults when left out. Use it from one thread at a time; records come as dicts.
    ``close()`` (or leaving a ``with`` block) frees it, stopping a live capture.
    """

    _free_name = "ns_engine_free"

    def __init__(self, config: Union[dict, str, None] = None):
        self._lib = load()
        text = config if isinstance(config, str) else json.dumps(config or {})
        handle = ctypes.c_void_p()
        _check(self._lib.ns_engine_new(text.encode(), ctypes.byref(handle)))
        self._handle = handle
        self._callbacks: dict = {}
        self._callback_error: Optional[BaseException] = None
        self._buffer = ctypes.create_string_buffer(64 * 1024)

    def _call(self, function: Callable[..., int], *args: Any) -> None:
        if self._handle is None:
            raise NetSentinelError(Result.INVALID_HANDLE, "the engine is closed")
        code = function(self._handle, *args)
        error, self._callback_error = self._callback_error, None
        _check(code)
        if error is not None:
            raise error

    # Callbacks ----------------------------------------------------------------------------

    def _register(self, kind: str, setter: Callable[..., int], callback: Optional[Callable]) -> None:
        if callback is None:
            self._call(setter, RecordCallback(), None)
            self._callbacks.pop(kind, None)
            return

        def trampoline(_userdata: Any, text: bytes, _length: int) -> None:
            # Nothing may propagate into the library: keep the first error for the caller.
            try:
                callback(json.loads(text.decode()))
            except BaseException as e:  # noqa: BLE001 - re-raised after the C call
                if self._callback_error is None:
                    self._callback_error = e

        c_callback = RecordCallback(trampoline)
        self._call(setter, c_callback, None)
        # Kept alive as long as the library may call it.
        self._callbacks[kind] = c_callback

    def on_alert(self, callback: Optional[Callable[[Record], None]]) -> None:
        """Calls ``callback(alert_dict)`` for every alert instead of queueing it; None stops."""
        self._register("alert", self._lib.ns_engine_set_alert_callback, callback)

    def on_incident(self, callback: Optional[Callable[[Record], None]]) -> None:
        """Calls ``callback(incident_dict)`` for every incident record; None stops."""
        self._register("incident", self._lib.ns_engine_set_incident_callback, callback)

    # Input --------------------------------------------------------------------------------

    def feed(self, ts_micros: int, data: bytes, linktype: int = 1) -> None:
        """Analyses one packet: microseconds since the epoch, captured bytes, pcap link type."""
        self._call(self._lib.ns_engine_feed, ts_micros, linktype, data, len(data))

    def analyze_file(self, path: Union[str, os.PathLike]) -> None:
        """Analyses a whole pcap/pcapng file, then finishes the run."""
        self._call(self._lib.ns_engine_analyze_file, os.fsencode(path))

    def finish(self) -> None:
        """Ends the input: flows end, detectors report, incidents close."""
        self._call(self._lib.ns_engine_finish)

    def start_live(self, interface: str) -> None:
        """Captures on ``interface`` on the engine's own thread (needs root and the library
        built with the ``live`` feature). Callbacks then run on that thread."""
        self._call(self._lib.ns_engine_start_live, interface.encode())

    def stop_live(self) -> None:
        """Stops the live capture and finishes its run."""
        self._call(self._lib.ns_engine_stop_live)

    # Output -------------------------------------------------------------------------------

    def poll(self) -> list:
        """Every record waiting in the queue (those without a callback), oldest first."""
        records = []
        written = ctypes.c_size_t()
        while True:
            buf = self._buffer
            if self._handle is None:
                raise NetSentinelError(Result.INVALID_HANDLE, "the engine is closed")
            code = self._lib.ns_engine_poll(self._handle, buf, len(buf), ctypes.byref(written))
            if code == Result.BUFFER_TOO_SMALL:
                self._buffer = ctypes.create_string_buffer(written.value)
                continue
            _check(code)
            if written.value == 0:
                break
            text = buf.raw[: written.value].decode()
            records.extend(json.loads(line) for line in text.splitlines() if line)
        error, self._callback_error = self._callback_error, None
        if error is not None:
            raise error
        return records

    @property
    def dropped(self) -> int:
        """Records lost because the queue was full (10,000 waiting)."""
        value = ctypes.c_uint64()
        self._call(self._lib.ns_engine_dropped, ctypes.byref(value))
        return value.value

    def snapshot(self) -> dict:
        """Traffic statistics, the busiest flows, devices and open incidents now."""
        out = ctypes.c_void_p()
        self._call(self._lib.ns_engine_snapshot_json, ctypes.byref(out))
        return _take_json(out)

    def summary(self) -> dict:
        """The summary of the last finished run."""
        out = ctypes.c_void_p()
        self._call(self._lib.ns_engine_summary_json, ctypes.byref(out))
        return _take_json(out)

    def save_last(self, seconds: int, path: Union[str, os.PathLike]) -> None:
        """Writes the last ``seconds`` of packets to a pcap file."""
        self._call(self._lib.ns_engine_save_last, seconds, os.fsencode(path))


class Vault(_Handle):
    """The encrypted credential vault. ``Vault.open(path, passphrase)`` or ``Vault.create``."""

    _free_name = "ns_vault_free"

    def __init__(self, handle: ctypes.c_void_p):
        self._lib = load()
        self._handle: Optional[ctypes.c_void_p] = handle

    @classmethod
    def open(cls, path: Union[str, os.PathLike], passphrase: str) -> "Vault":
        """Opens a vault; ``WrongPassphrase`` or ``NetSentinelError`` (VAULT_DAMAGED...)."""
        handle = ctypes.c_void_p()
        _check(load().ns_vault_open(os.fsencode(path), passphrase.encode(), ctypes.byref(handle)))
        return cls(handle)

    @classmethod
    def create(cls, path: Union[str, os.PathLike], passphrase: str) -> "Vault":
        """Creates an empty vault; never overwrites a file (ALREADY_EXISTS)."""
        handle = ctypes.c_void_p()
        _check(
            load().ns_vault_create(os.fsencode(path), passphrase.encode(), ctypes.byref(handle))
        )
        return cls(handle)

    def _live(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise NetSentinelError(Result.INVALID_HANDLE, "the vault is closed")
        return self._handle

    def records(self) -> list:
        """Every credential, secret in full and masked."""
        out = ctypes.c_void_p()
        _check(self._lib.ns_vault_records_json(self._live(), ctypes.byref(out)))
        return _take_json(out)

    def add_credentials(self, engine: Engine) -> int:
        """Stores the credentials ``engine`` found since the last call; returns how many."""
        added = ctypes.c_size_t()
        if engine._handle is None:
            raise NetSentinelError(Result.INVALID_HANDLE, "the engine is closed")
        _check(
            self._lib.ns_vault_add_credentials(self._live(), engine._handle, ctypes.byref(added))
        )
        return added.value
