using System.Diagnostics;
using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// <c>mpiexec.mpich -n 2 adan bench zero --layers L</c>, as <c>scripts/bench-comm.sh</c> runs it but small: gradients
/// written by forward and backward with overlapped reduction, so the measured peak is the stage's. ZeRO-1 holds the whole
/// gradient buffer; ZeRO-2 at most what the code holds (the terms the record carries), well below the buffer. Memory is
/// measured, not timed: the times are left to the benchmark.
/// </summary>
/// <remarks>
/// The ZeRO-2 bound: the rank's shard and the (at most two) huge pages at its edges, which stay whole since pages are
/// returned a whole 2 MiB page at a time; plus the gradients written and not yet reduced, which backward keeps within
/// one parameter (autograd writes a whole gradient before its buckets can launch), the buckets in flight, the bucket
/// waiting on that parameter and the one a launch waits to add under the in-flight cap; plus two huge pages, one partly
/// reduced at the reduced front and one a huge-page fault brought in at the written front; plus a page per bucket
/// boundary. Every term is a count the code enforces, none a timing; for this run the bound is about 0.72 of the buffer.
/// </remarks>
public class ZeroBenchTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void TheBackwardModeMeasuresThePeakGradientMemoryOfTheStage(int stage)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // Pages are counted with mincore.
        }
        using var temp = TestFiles.CreateTempDirectory();
        var json = Path.Combine(temp.Path, "zero.json");
        var (exitCode, output) = Mpiexec(2,
            ["bench", "zero", "--params", "16000000", "--layers", "16", "--stage", $"{stage}", "--steps", "2", "--bucket-kib", "256", "--json", json]);
        Assert.True(exitCode == 0, output);

        var record = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        long Bytes(string key) => record.GetProperty(key).GetInt64();
        var peak = Bytes("peak_gradient_bytes_per_rank");
        var buffer = Bytes("gradient_buffer_bytes");
        Assert.Equal(16 * 1000 * 1001L, record.GetProperty("n_params").GetInt64()); // 16 layers of 1000×1000 weights and 1000 biases
        Assert.InRange(buffer, 16 * 1000 * 1001 * 4L, 16 * 1000 * 1001 * 4L + 64 * 1024); // and the layout's alignment padding
        Assert.StartsWith("forward and backward of 16 Linear layers 1000x1000", record.GetProperty("gradients").GetString());
        if (stage == 1)
        {
            Assert.True(peak >= buffer, $"ZeRO-1 peak {peak} below its {buffer}-byte buffer:\n{output}");
            Assert.Equal(JsonValueKind.Null, record.GetProperty("max_buckets_in_flight").ValueKind);
        }
        else
        {
            var bound = Bytes("shard_gradient_bytes") + Bytes("largest_parameter_bytes")
                + (record.GetProperty("max_buckets_in_flight").GetInt32() + 2) * Bytes("bucket_bytes") + 4 * (2L << 20)
                + (Bytes("buckets") + 4) * Environment.SystemPageSize;
            Assert.True(bound < buffer * 3 / 4, $"bound {bound} of a {buffer}-byte buffer: too loose to show the release");
            Assert.True(peak <= bound, $"ZeRO-2 peak {peak}: bound {bound}, buffer {buffer}:\n{output}");
            Assert.True(peak >= Bytes("shard_gradient_bytes"), $"ZeRO-2 peak {peak} below its own shard:\n{output}");
        }
    }

    private static (int ExitCode, string Output) Mpiexec(int ranks, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo("mpiexec.mpich") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-n", $"{ranks}", AdanCli.Executable }.Concat(arguments))
        {
            info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        return (process.HasExited ? process.ExitCode : -1, $"exit code {process.ExitCode}\n{stdout.Result}\n{stderr.Result}");
    }
}
