using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Adan.Coordinator.Hosting;
using Adan.Coordinator.V1;
using Grpc.Core;
using Grpc.Net.Client;

// W ranks join one job, then each heartbeats every interval for the duration, as a 200-rank job's control plane
// traffic would be; prints and writes latency percentiles and throughput as one JSON object.
var ranks = new Option<int>("--ranks") { Description = "Simulated ranks", DefaultValueFactory = _ => 200 };
var seconds = new Option<double>("--seconds") { Description = "Duration of the heartbeat phase", DefaultValueFactory = _ => 10 };
var intervalMs = new Option<int>("--interval-ms") { Description = "Heartbeat interval of each rank", DefaultValueFactory = _ => 100 };
var json = new Option<FileInfo?>("--json") { Description = "Also write the record to this file" };
var root = new RootCommand("Coordinator load: W ranks heartbeating against an in-process coordinator") { ranks, seconds, intervalMs, json };
root.SetAction((parse, cancel) => Adan.Coordinator.Bench.HeartbeatLoad.RunAsync(
    parse.GetValue(ranks), TimeSpan.FromSeconds(parse.GetValue(seconds)), TimeSpan.FromMilliseconds(parse.GetValue(intervalMs)), parse.GetValue(json)));
return await root.Parse(args).InvokeAsync();

namespace Adan.Coordinator.Bench
{
    internal static class HeartbeatLoad
    {
        private const string Token = "bench-token";
        private const string Job = "load";

        public static async Task<int> RunAsync(int worldSize, TimeSpan duration, TimeSpan interval, FileInfo? json)
        {
            var dataDirectory = Directory.CreateTempSubdirectory("adan-coord-bench-").FullName;
            try
            {
                await using var host = new CoordinatorHost(new CoordinatorOptions
                {
                    Listen = new ListenAddress("127.0.0.1", 0),
                    Token = Token,
                    DataDirectory = dataDirectory,
                });
                var address = await host.StartAsync();
                // Many simulated ranks share one channel; more connections avoid one HTTP/2 stream limit.
                using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
                {
                    HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
                });
                var membership = new Membership.MembershipClient(channel);
                var headers = new Metadata { { "authorization", $"Bearer {Token}" } };

                var joinClock = Stopwatch.StartNew();
                var joins = await Task.WhenAll(Enumerable.Range(0, worldSize).Select(async rank =>
                {
                    var start = Stopwatch.GetTimestamp();
                    await membership.JoinAsync(new JoinRequest { JobId = Job, Rank = rank, WorldSize = worldSize, Host = "bench", Pid = 1000 + rank }, headers);
                    return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }));
                var joinSeconds = joinClock.Elapsed.TotalSeconds;

                var errors = 0;
                var clock = Stopwatch.StartNew();
                var latencies = await Task.WhenAll(Enumerable.Range(0, worldSize).Select(async rank =>
                {
                    var mine = new List<double>();
                    var request = new HeartbeatRequest { JobId = Job, Rank = rank };
                    while (clock.Elapsed < duration)
                    {
                        var start = Stopwatch.GetTimestamp();
                        try
                        {
                            var reply = await membership.HeartbeatAsync(request, headers, DateTime.UtcNow.AddSeconds(5));
                            mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                            if (reply.State != JobState.Running)
                            {
                                Interlocked.Increment(ref errors);
                            }
                        }
                        catch (RpcException)
                        {
                            Interlocked.Increment(ref errors);
                        }
                        await Task.Delay(interval);
                    }
                    return mine;
                }));
                var elapsed = clock.Elapsed.TotalSeconds;
                var state = (await new Jobs.JobsClient(channel).StatusAsync(new JobStatusRequest { JobId = Job }, headers)).State;

                var all = latencies.SelectMany(l => l).Order().ToArray();
                var joined = joins.Order().ToArray();
                var text = JsonSerializer.Serialize(new
                {
                    ranks = worldSize,
                    seconds = Math.Round(elapsed, 3),
                    interval_ms = interval.TotalMilliseconds,
                    heartbeats = all.Length,
                    errors,
                    job_state = state.ToString(),
                    throughput_per_s = Math.Round(all.Length / elapsed, 1),
                    heartbeat_p50_ms = Percentile(all, 0.50),
                    heartbeat_p99_ms = Percentile(all, 0.99),
                    heartbeat_max_ms = Percentile(all, 1.0),
                    join_seconds = Math.Round(joinSeconds, 3),
                    join_p50_ms = Percentile(joined, 0.50),
                    join_p99_ms = Percentile(joined, 0.99),
                });
                Console.WriteLine(text);
                if (json is not null)
                {
                    await File.WriteAllTextAsync(json.FullName, text + "\n");
                }
                // A bench that lost heartbeats or failed the job measured something else: say so in the exit code.
                return errors == 0 && state == JobState.Running ? 0 : 1;
            }
            finally
            {
                Directory.Delete(dataDirectory, recursive: true);
            }
        }

        private static double Percentile(double[] sorted, double p) =>
            sorted.Length == 0 ? double.NaN : Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)], 3);
    }
}
