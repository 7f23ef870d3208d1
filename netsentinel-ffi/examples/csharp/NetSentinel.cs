// P/Invoke binding of the NetSentinel C API (netsentinel-ffi/include/netsentinel.h) for C#
// on .NET or Mono. Records arrive as JSON text: parse them with the JSON library of your
// application (System.Text.Json, Newtonsoft.Json).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace NetSentinel
{
    /// <summary>The C API's result codes (NS_RESULT_*).</summary>
    public enum Result
    {
        Ok = 0, NullArgument = 1, InvalidHandle = 2, Panic = 3, Poisoned = 4, InvalidUtf8 = 5,
        Config = 6, Source = 7, Io = 8, BufferTooSmall = 9, Empty = 10, NoRing = 11, Busy = 12,
        Unsupported = 13, WrongPassphrase = 14, VaultDamaged = 15, AlreadyExists = 16,
        NotRunning = 17, InvalidArgument = 18,
    }

    /// <summary>A call into the library failed: Code says how, Message says why.</summary>
    public class NetSentinelException : Exception
    {
        public Result Code { get; private set; }
        public NetSentinelException(Result code, string message) : base(code + ": " + message)
        {
            Code = code;
        }
    }

    internal static class Native
    {
        const string Lib = "netsentinel_ffi";

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void RecordCallback(IntPtr userdata, IntPtr json, UIntPtr len);

        [DllImport(Lib)] internal static extern uint ns_abi_version();
        [DllImport(Lib)] internal static extern IntPtr ns_version();
        [DllImport(Lib)] internal static extern UIntPtr ns_last_error(byte[] buf, UIntPtr len);
        [DllImport(Lib)] internal static extern void ns_string_free(IntPtr s);
        [DllImport(Lib)] internal static extern Result ns_engine_new(byte[] config, out IntPtr engine);
        [DllImport(Lib)] internal static extern void ns_engine_free(IntPtr engine);
        [DllImport(Lib)] internal static extern Result ns_engine_set_alert_callback(IntPtr engine, RecordCallback cb, IntPtr userdata);
        [DllImport(Lib)] internal static extern Result ns_engine_set_incident_callback(IntPtr engine, RecordCallback cb, IntPtr userdata);
        [DllImport(Lib)] internal static extern Result ns_engine_feed(IntPtr engine, long tsMicros, uint linktype, byte[] data, UIntPtr len);
        [DllImport(Lib)] internal static extern Result ns_engine_analyze_file(IntPtr engine, byte[] path);
        [DllImport(Lib)] internal static extern Result ns_engine_finish(IntPtr engine);
        [DllImport(Lib)] internal static extern Result ns_engine_snapshot_json(IntPtr engine, out IntPtr json);
        [DllImport(Lib)] internal static extern Result ns_engine_summary_json(IntPtr engine, out IntPtr json);
        [DllImport(Lib)] internal static extern Result ns_engine_save_last(IntPtr engine, ulong secs, byte[] path);
        [DllImport(Lib)] internal static extern Result ns_engine_start_live(IntPtr engine, byte[] iface);
        [DllImport(Lib)] internal static extern Result ns_engine_stop_live(IntPtr engine);

        internal static byte[] Utf8z(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            Array.Resize(ref bytes, bytes.Length + 1);
            return bytes;
        }

        internal static string Utf8(IntPtr p, int len)
        {
            var bytes = new byte[len];
            Marshal.Copy(p, bytes, 0, len);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>A string the library returned, copied and freed.</summary>
        internal static string TakeString(IntPtr p)
        {
            int len = 0;
            while (Marshal.ReadByte(p, len) != 0) len++;
            var s = Utf8(p, len);
            ns_string_free(p);
            return s;
        }

        internal static void Check(Result r)
        {
            if (r == Result.Ok) return;
            var buf = new byte[1024];
            ns_last_error(buf, (UIntPtr)buf.Length);
            int n = Array.IndexOf(buf, (byte)0);
            throw new NetSentinelException(r, Encoding.UTF8.GetString(buf, 0, n < 0 ? buf.Length : n));
        }
    }

    /// <summary>
    /// An engine with the built-in detectors. Use it from one thread at a time. Alert and
    /// incident records (JSON text) go to the handlers; they run on the thread that
    /// analyses: the caller's for AnalyzeFile/Feed/Finish, the engine's own during live
    /// capture, so a UI marshals them to its UI thread (Control.BeginInvoke,
    /// Dispatcher.BeginInvoke).
    /// </summary>
    public sealed class Engine : IDisposable
    {
        public const uint AbiVersion = 3;
        IntPtr handle;
        // Kept referenced: the library calls them until the engine is freed.
        readonly Native.RecordCallback onAlert, onIncident;
        Exception callbackError;

        public event Action<string> Alert;
        public event Action<string> Incident;

        public static string Version { get { return Marshal.PtrToStringAnsi(Native.ns_version()); } }

        public Engine(string configJson = "{}")
        {
            if (Native.ns_abi_version() != AbiVersion)
                throw new NetSentinelException(Result.Unsupported, "C ABI version " + Native.ns_abi_version() + ", expected " + AbiVersion);
            Native.Check(Native.ns_engine_new(Native.Utf8z(configJson), out handle));
            onAlert = (u, json, len) => Deliver(Alert, json, len);
            onIncident = (u, json, len) => Deliver(Incident, json, len);
            Native.Check(Native.ns_engine_set_alert_callback(handle, onAlert, IntPtr.Zero));
            Native.Check(Native.ns_engine_set_incident_callback(handle, onIncident, IntPtr.Zero));
        }

        void Deliver(Action<string> handlers, IntPtr json, UIntPtr len)
        {
            // An exception must not unwind through the library: kept, rethrown after the call.
            try
            {
                if (handlers != null) handlers(Native.Utf8(json, (int)len));
            }
            catch (Exception e)
            {
                if (callbackError == null) callbackError = e;
            }
        }

        void Call(Result r)
        {
            var error = callbackError;
            callbackError = null;
            Native.Check(r);
            if (error != null) throw new AggregateException("a record handler failed", error);
        }

        IntPtr Handle
        {
            get
            {
                if (handle == IntPtr.Zero) throw new ObjectDisposedException("Engine");
                return handle;
            }
        }

        public void AnalyzeFile(string path) { Call(Native.ns_engine_analyze_file(Handle, Native.Utf8z(path))); }
        public void Feed(long tsMicros, byte[] frame, uint linktype = 1) { Call(Native.ns_engine_feed(Handle, tsMicros, linktype, frame, (UIntPtr)frame.Length)); }
        public void Finish() { Call(Native.ns_engine_finish(Handle)); }
        public void StartLive(string iface) { Call(Native.ns_engine_start_live(Handle, Native.Utf8z(iface))); }
        public void StopLive() { Call(Native.ns_engine_stop_live(Handle)); }
        public void SaveLast(ulong seconds, string path) { Call(Native.ns_engine_save_last(Handle, seconds, Native.Utf8z(path))); }

        /// <summary>Traffic, busiest flows, devices, open incidents now (JSON).</summary>
        public string SnapshotJson()
        {
            IntPtr p;
            Call(Native.ns_engine_snapshot_json(Handle, out p));
            return Native.TakeString(p);
        }

        /// <summary>The summary of the last finished run (JSON).</summary>
        public string SummaryJson()
        {
            IntPtr p;
            Call(Native.ns_engine_summary_json(Handle, out p));
            return Native.TakeString(p);
        }

        public void Dispose()
        {
            if (handle != IntPtr.Zero)
            {
                Native.ns_engine_free(handle);
                handle = IntPtr.Zero;
            }
            GC.KeepAlive(onAlert);
            GC.KeepAlive(onIncident);
        }
    }
}
