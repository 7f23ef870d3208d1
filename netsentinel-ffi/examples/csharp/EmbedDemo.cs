// How a desktop application embeds NetSentinel: the engine works off the UI thread, its
// alert and incident handlers post to the UI thread, and the UI refreshes a status line
// from snapshots. The "UI thread" here is a console loop over a dispatcher queue, standing
// in for WinForms' Control.BeginInvoke or WPF's Dispatcher.BeginInvoke.
//
//   mcs -out:EmbedDemo.exe EmbedDemo.cs NetSentinel.cs
//   LD_LIBRARY_PATH=<dir of libnetsentinel_ffi.so> mono EmbedDemo.exe CAPTURE [--json]
//   LD_LIBRARY_PATH=... mono EmbedDemo.exe --live lo --seconds 5      (root)
//
// With --json the UI prints each record as received (one JSON line each); otherwise a
// table row per alert and a status line per refresh.
using System;
using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;

static class EmbedDemo
{
    /// <summary>The UI thread's work queue.</summary>
    static readonly BlockingCollection<Action> Ui = new BlockingCollection<Action>();

    static string Field(string json, string name)
    {
        // A real application parses records with its JSON library; a demo can peek.
        var m = Regex.Match(json, "\"" + name + "\":\"([^\"]*)\"");
        return m.Success ? m.Groups[1].Value : "";
    }

    static int Main(string[] args)
    {
        bool json = Array.IndexOf(args, "--json") >= 0;
        int live = Array.IndexOf(args, "--live");
        int secondsAt = Array.IndexOf(args, "--seconds");
        int seconds = secondsAt >= 0 ? int.Parse(args[secondsAt + 1]) : 5;
        if (args.Length == 0 || (live >= 0 && live + 1 >= args.Length))
        {
            Console.Error.WriteLine("usage: EmbedDemo.exe CAPTURE [--json] | --live IFACE [--seconds N]");
            return 2;
        }
        Console.Error.WriteLine("NetSentinel " + NetSentinel.Engine.Version);
        int alerts = 0;
        int exitCode = 0;
        using (var engine = new NetSentinel.Engine())
        {
            // Handlers run on the engine's thread: hand the record to the UI thread.
            engine.Alert += record => Ui.Add(() =>
            {
                alerts++;
                if (json) Console.WriteLine(record);
                else Console.WriteLine("ALERT  {0,-8} {1}", Field(record, "severity"), Field(record, "message"));
            });
            engine.Incident += record => Ui.Add(() =>
            {
                if (json) Console.WriteLine(record);
                else Console.WriteLine("INCIDENT {0,-8} {1}", Field(record, "update"), Field(record, "narrative"));
            });

            if (live >= 0)
            {
                // Live: the engine captures on its own thread; the UI thread may call it
                // (one call at a time) to refresh the status line.
                engine.StartLive(args[live + 1]);
                var until = DateTime.UtcNow.AddSeconds(seconds);
                while (DateTime.UtcNow < until)
                {
                    Action work;
                    while (Ui.TryTake(out work, 250)) work();
                    var snapshot = engine.SnapshotJson();
                    var packets = Regex.Match(snapshot, "\"packets\":(\\d+)").Groups[1].Value;
                    Console.Error.WriteLine("status: {0} packets, {1} alerts", packets, alerts);
                }
                engine.StopLive();
            }
            else
            {
                // A file: analysed by a worker thread (which is the engine's caller while it
                // runs); the UI thread keeps serving its queue meanwhile.
                var worker = Task.Run(() =>
                {
                    try { engine.AnalyzeFile(args[0]); }
                    finally { Ui.CompleteAdding(); }
                });
                foreach (var work in Ui.GetConsumingEnumerable()) work();
                try { worker.Wait(); }
                catch (AggregateException e)
                {
                    Console.Error.WriteLine("analysis failed: " + e.InnerException.Message);
                    exitCode = 1;
                }
            }
            if (exitCode == 0)
            {
                var summary = engine.SummaryJson();
                var packets = Regex.Match(summary, "\"packets\":(\\d+)").Groups[1].Value;
                Console.Error.WriteLine("done: {0} packets, {1} alerts", packets, alerts);
            }
        }
        return exitCode;
    }
}
