using System.Reflection;
using Adan.Coordinator.Hosting;

namespace Adan.Coordinator.Tests;

/// <summary>The coordinator never touches a tensor, so nothing it loads may pull in TorchSharp or libtorch.</summary>
public sealed class TorchFreeTests
{
    [Fact]
    public void NoAssemblyTheCoordinatorReferencesIsTorchSharp()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<AssemblyName>([typeof(CoordinatorHost).Assembly.GetName()]);
        while (pending.TryPop(out var name))
        {
            if (!seen.Add(name.Name!) || name.Name!.StartsWith("System.", StringComparison.Ordinal) || name.Name.StartsWith("Microsoft.", StringComparison.Ordinal))
            {
                continue;
            }
            Assert.False(name.Name.Contains("Torch", StringComparison.OrdinalIgnoreCase), $"the coordinator references {name.Name}");
            foreach (var reference in Assembly.Load(name).GetReferencedAssemblies())
            {
                pending.Push(reference);
            }
        }
        Assert.Contains("Adan.Sharded.Common", seen);
        Assert.DoesNotContain("Adan.Sharded", seen);
    }

    [Fact]
    public void TheCoordinatorsOutputHoldsNoLibtorch()
    {
        // The test's own output is the union of the coordinator's dependencies (and the client's).
        var output = Path.GetDirectoryName(typeof(CoordinatorHost).Assembly.Location)!;
        var torch = Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f).Contains("torch", StringComparison.OrdinalIgnoreCase))
            .ToList();
        Assert.Empty(torch);
    }
}
