using System.Diagnostics;
using System.Text.RegularExpressions;
using Adan.Worker.Tests.Cli;
using YamlDotNet.RepresentationModel;

namespace Adan.Worker.Tests.Deploy;

/// <summary>
/// The files under deploy/ and scripts/ are run by users and clusters, not by the suite: these checks keep them in step
/// with the code (shell syntax, the Kubernetes job's YAML and the adan commands and flags the files name, and the
/// Containerfile's build command).
/// </summary>
public class DeployFilesTests
{
    private static readonly string s_root = TestFiles.RepoRoot;

    [Fact]
    public void EveryShellScriptPassesBashSyntaxCheck()
    {
        var scripts = ShellScripts().ToList();
        Assert.Contains(scripts, s => s.EndsWith("slurm.sbatch"));
        Assert.Contains(scripts, s => s.EndsWith("netns-cluster.sh"));
        var failures = new List<string>();
        foreach (var script in scripts)
        {
            var (exitCode, output) = Run("bash", ["-n", script]);
            if (exitCode != 0)
            {
                failures.Add($"{Path.GetRelativePath(s_root, script)}: {output.Trim()}");
            }
        }
        Assert.True(failures.Count == 0, "bash -n failed:\n" + string.Join("\n", failures));
    }

    [Fact]
    public void TheKubernetesJobParsesAsAnMpiJobOfTheAdanImage()
    {
        var job = KubernetesJob();
        Assert.Equal("kubeflow.org/v2beta1", Scalar(job, "apiVersion"));
        Assert.Equal("MPIJob", Scalar(job, "kind"));
        var spec = (YamlMappingNode)job["spec"];
        Assert.Equal("MPICH", Scalar(spec, "mpiImplementation"));
        var replicas = (YamlMappingNode)spec["mpiReplicaSpecs"];
        Assert.Equal(["Launcher", "Worker"], replicas.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).Order());
        foreach (var (role, node) in replicas.Children)
        {
            var containers = (YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)node)["template"])["spec"])["containers"];
            Assert.All(containers.Children.Cast<YamlMappingNode>(), c => Assert.Equal("adan:latest", Scalar(c, "image")));
            Assert.True(containers.Children.Count == 1, $"{role}: one container expected");
        }
    }

    [Fact]
    public void EveryAdanCommandAndFlagTheDeployFilesNameExists()
    {
        var invocations = new List<(string File, AdanInvocation Invocation)>();
        foreach (var text in KubernetesCommandLines())
        {
            invocations.AddRange(AdanInvocation.Parse(text).Select(i => ("kubernetes-mpijob.yaml", i)));
        }
        invocations.AddRange(AdanInvocation.Parse(File.ReadAllText(Path.Combine(s_root, "deploy", "slurm.sbatch"))).Select(i => ("slurm.sbatch", i)));
        Assert.Contains(invocations, i => i.File == "kubernetes-mpijob.yaml" && i.Invocation.Command == "launch");
        Assert.Contains(invocations, i => i.File == "kubernetes-mpijob.yaml" && i.Invocation.Command == "train");
        Assert.Contains(invocations, i => i.File == "slurm.sbatch" && i.Invocation.Command == "launch");

        var help = new Dictionary<string, HashSet<string>>();
        var missing = new List<string>();
        foreach (var (file, invocation) in invocations)
        {
            if (!help.TryGetValue(invocation.Command, out var flags))
            {
                var result = AdanCli.Run([invocation.Command, "--help"], TimeSpan.FromMinutes(1));
                Assert.True(result.ExitCode == 0, $"{file}: adan {invocation.Command} --help: {result.Describe()}");
                flags = HelpFlags(result.Stdout);
                help[invocation.Command] = flags;
            }
            missing.AddRange(invocation.Flags.Where(f => !flags.Contains(f)).Select(f => $"{file}: adan {invocation.Command} {f}"));
        }
        Assert.True(missing.Count == 0, "flags that adan does not have:\n" + string.Join("\n", missing));
    }

    [Fact]
    public void AnEvictedPodGetsLongEnoughToSaveAndTheLauncherHearsTheSignal()
    {
        // Kubernetes sends SIGTERM to a container's main process and SIGKILL after terminationGracePeriodSeconds: the
        // launcher must be that process (exec'd, not behind a shell that swallows the signal), and its --preempt-grace
        // plus the fallback's --grace-period (default 10 s) must end before the kill.
        var replicas = (YamlMappingNode)((YamlMappingNode)KubernetesJob()["spec"])["mpiReplicaSpecs"];
        var launch = KubernetesCommandLines().Where(l => l.Contains("adan launch", StringComparison.Ordinal)).ToList();
        Assert.Contains(launch, l => l.StartsWith("exec adan launch ", StringComparison.Ordinal));
        var preemptGrace = double.Parse(Assert.Single(launch.SelectMany(AdanInvocation.Parse).SelectMany(i => i.ValuesOf("--preempt-grace"))),
            System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (role, node) in replicas.Children)
        {
            var pod = (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)node)["template"])["spec"];
            var termination = double.Parse(Scalar(pod, "terminationGracePeriodSeconds"), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(termination >= preemptGrace + 10 + 10, $"{role}: terminationGracePeriodSeconds {termination} leaves no time after --preempt-grace {preemptGrace}");
        }
        // A worker's main process passes SIGTERM on to its rank as a preemption request.
        Assert.Contains(KubernetesCommandLines(), l => l.Contains("trap 'pkill -USR1 -x adan;", StringComparison.Ordinal));
    }

    [Fact]
    public void TheKubernetesJobsConfigIsShippedInTheImage()
    {
        // The Containerfile copies deploy/configs to /opt/adan/configs; every config the job names must be one of them.
        var containerfile = File.ReadAllText(Path.Combine(s_root, "deploy", "Containerfile"));
        Assert.Contains("COPY deploy/configs /opt/adan/configs", containerfile);
        var configs = KubernetesCommandLines().SelectMany(AdanInvocation.Parse).SelectMany(i => i.ValuesOf("--config")).ToList();
        Assert.NotEmpty(configs);
        foreach (var config in configs)
        {
            Assert.StartsWith("/opt/adan/configs/", config);
            var shipped = Path.Combine(s_root, "deploy", "configs", config["/opt/adan/configs/".Length..]);
            Assert.True(File.Exists(shipped), $"kubernetes-mpijob.yaml names {config}, but {shipped} does not exist");
        }
    }

    [Fact]
    public void TheContainerfileBuildsAdanWithTheMakefilesPublishCommand()
    {
        var lines = File.ReadAllLines(Path.Combine(s_root, "deploy", "Containerfile")).Select(l => l.Trim()).ToList();
        var buildStart = lines.FindIndex(l => Regex.IsMatch(l, @"^FROM \S+ AS build$", RegexOptions.IgnoreCase));
        Assert.True(buildStart >= 0, "the Containerfile has no 'FROM ... AS build' stage");
        var buildEnd = lines.FindIndex(buildStart + 1, l => l.StartsWith("FROM ", StringComparison.Ordinal));
        var build = lines[buildStart..(buildEnd < 0 ? lines.Count : buildEnd)];
        var runtime = buildEnd < 0 ? [] : lines[buildEnd..];

        // The SDK image is the framework the projects target.
        var framework = Regex.Match(File.ReadAllText(Path.Combine(s_root, "Directory.Build.props")), @"<TargetFramework>net(\d+\.\d+)</TargetFramework>");
        Assert.True(framework.Success, "no <TargetFramework>netX.Y</TargetFramework> in Directory.Build.props");
        Assert.Matches($@"^FROM \S+/dotnet/sdk:{Regex.Escape(framework.Groups[1].Value)} AS build$", build[0]);
        Assert.Contains("COPY . .", build);

        // The runtime stage takes the build stage's output folder; the build stage must fill it with `make publish`'s
        // command (the Makefile's default configuration, the one `make build` and CI use).
        var copy = runtime.Select(l => Regex.Match(l, @"^COPY --from=build (\S+) ")).FirstOrDefault(m => m.Success);
        Assert.True(copy is not null, "the runtime stage copies nothing from the build stage");
        var output = copy.Groups[1].Value;
        var (exitCode, makeOutput) = Run("make", ["-n", "-s", "-C", s_root, "publish", "DOTNET=dotnet", $"PUBLISH={output}"]);
        Assert.True(exitCode == 0, $"make -n publish: {makeOutput}");
        var publish = makeOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Single(l => l.StartsWith("dotnet publish ", StringComparison.Ordinal));
        Assert.Contains($"RUN {publish}", build);
    }

    /// <summary>Every file in deploy/ and scripts/ that is a shell script: a *.sh or *.sbatch name, or a shell shebang.</summary>
    private static IEnumerable<string> ShellScripts() =>
        new[] { "deploy", "scripts" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(s_root, d), "*", SearchOption.AllDirectories))
            .Where(f => f.EndsWith(".sh") || f.EndsWith(".sbatch") || Regex.IsMatch(File.ReadLines(f).FirstOrDefault() ?? "", @"^#!.*\b(ba)?sh\b"))
            .Order(StringComparer.Ordinal);

    private static YamlMappingNode KubernetesJob()
    {
        using var reader = new StreamReader(Path.Combine(s_root, "deploy", "kubernetes-mpijob.yaml"));
        var yaml = new YamlStream();
        yaml.Load(reader);
        var document = Assert.Single(yaml.Documents);
        return Assert.IsType<YamlMappingNode>(document.RootNode);
    }

    /// <summary>The command lines of every container: its <c>command</c> and <c>args</c> joined, as the shell runs them.</summary>
    private static IEnumerable<string> KubernetesCommandLines()
    {
        var replicas = (YamlMappingNode)((YamlMappingNode)KubernetesJob()["spec"])["mpiReplicaSpecs"];
        foreach (var node in replicas.Children.Values.Cast<YamlMappingNode>())
        {
            var containers = (YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)node["template"])["spec"])["containers"];
            foreach (var container in containers.Children.Cast<YamlMappingNode>())
            {
                foreach (var key in new[] { "command", "args" })
                {
                    if (container.Children.TryGetValue(key, out var value))
                    {
                        foreach (var item in ((YamlSequenceNode)value).Children.Cast<YamlScalarNode>())
                        {
                            yield return item.Value!;
                        }
                    }
                }
            }
        }
    }

    private static string Scalar(YamlMappingNode node, string key) => ((YamlScalarNode)node[key]).Value!;

    /// <summary>The flags of an <c>adan CMD --help</c> page: every -x / --name in its Options section.</summary>
    private static HashSet<string> HelpFlags(string help)
    {
        var options = help[help.IndexOf("Options:", StringComparison.Ordinal)..];
        return Regex.Matches(options, @"(?<=^\s*|,\s)(--?[A-Za-z?][\w-]*)", RegexOptions.Multiline).Select(m => m.Value).ToHashSet();
    }

    private static (int ExitCode, string Output) Run(string file, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}
