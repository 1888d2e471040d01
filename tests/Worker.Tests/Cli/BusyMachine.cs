using System.Diagnostics;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// Keeps every core of the machine busy while it lives: one spinning shell per core, killed on dispose. Timing-driven
/// differences (which thread a continuation lands on, which rank reaches a collective first) show far more often under
/// such load than on a quiet machine.
/// </summary>
internal sealed class BusyMachine : IDisposable
{
    private readonly List<Process> _spinners = [];

    public BusyMachine(int? processes = null)
    {
        for (var i = 0; i < (processes ?? Environment.ProcessorCount); i++)
        {
            var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add("while :; do :; done");
            _spinners.Add(Process.Start(info)!);
        }
    }

    public void Dispose()
    {
        foreach (var spinner in _spinners)
        {
            try
            {
                spinner.Kill();
                spinner.WaitForExit();
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            spinner.Dispose();
        }
    }
}
