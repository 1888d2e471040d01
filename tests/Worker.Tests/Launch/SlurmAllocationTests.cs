using Adan.Worker.Commands;
using Adan.Worker.Launch;

namespace Adan.Worker.Tests.Launch;

/// <summary>Slurm's node lists and task counts, expanded as <c>scontrol show hostnames</c> would, into a hostfile.</summary>
public sealed class SlurmAllocationTests
{
    [Theory]
    [InlineData("node01", "node01")]
    [InlineData("node[01-04,07]", "node01 node02 node03 node04 node07")]
    [InlineData("n[8-10]", "n8 n9 n10")]
    [InlineData("n[08-10]", "n08 n09 n10")]
    [InlineData("n[098-101]", "n098 n099 n100 n101")]
    [InlineData("a[1-2]-ib,b[01-02]c[3-4]", "a1-ib a2-ib b01c3 b01c4 b02c3 b02c4")]
    [InlineData("gpu[1,3],login.cluster.org,x_y[0]", "gpu1 gpu3 login.cluster.org x_y0")]
    [InlineData("r[1-2]n[1-2]-ib", "r1n1-ib r1n2-ib r2n1-ib r2n2-ib")]
    public void NodeListsExpandInSlurmsOrderKeepingLeadingZeros(string nodeList, string expected) =>
        Assert.Equal(expected.Split(' '), SlurmAllocation.ExpandNodeList(nodeList));

    [Theory]
    [InlineData("", "an empty name")]
    [InlineData("a,,b", "an empty name")]
    [InlineData("node[1-3", "never closed")]
    [InlineData("node1-3]", "closes no '['")]
    [InlineData("node[3-1]", "runs backwards")]
    [InlineData("node[1-x]", "not a number or a range")]
    [InlineData("node[]", "not a number or a range")]
    [InlineData("node[1-2-3]", "not a number or a range")]
    [InlineData("node[[1]]", "cannot nest")]
    [InlineData("node 1", "' ' cannot be part of a host name")]
    [InlineData("n[0-99999999999]", "more than 65536 nodes")]
    [InlineData("a[0-999]b[0-999]", "more than 65536 nodes")]
    [InlineData("n[99999999999999999999]", "too large")]
    public void ABadNodeListIsOneLineNamingTheProblemAndTheWayOut(string nodeList, string problem)
    {
        var e = Assert.Throws<UsageException>(() => SlurmAllocation.ExpandNodeList(nodeList));
        Assert.StartsWith($"SLURM_JOB_NODELIST '{nodeList}': ", e.Message);
        Assert.Contains(problem, e.Message);
        Assert.EndsWith("give --hostfile FILE to place the ranks yourself", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("4", "4")]
    [InlineData("2(x3),1", "2 2 2 1")]
    [InlineData("1,3(x2),2", "1 3 3 2")]
    [InlineData("16(x1)", "16")]
    public void TasksPerNodeExpand(string tasksPerNode, string expected) =>
        Assert.Equal(expected.Split(' ').Select(int.Parse), SlurmAllocation.ExpandTasksPerNode(tasksPerNode));

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("2(x0)")]
    [InlineData("2(3)")]
    [InlineData("2(x3")]
    [InlineData("2x3")]
    [InlineData("2(x3),")]
    [InlineData("-1")]
    [InlineData("1(x99999)")]
    public void BadTasksPerNodeIsOneLine(string tasksPerNode)
    {
        var e = Assert.Throws<UsageException>(() => SlurmAllocation.ExpandTasksPerNode(tasksPerNode));
        Assert.StartsWith($"SLURM_TASKS_PER_NODE '{tasksPerNode}': ", e.Message);
        Assert.Contains("--hostfile", e.Message);
    }

    [Fact]
    public void TheAllocationIsAHostfileOfItsNodesAndTheirTasks()
    {
        var allocation = SlurmAllocation.FromEnvironment(new Dictionary<string, string>
        {
            ["SLURM_JOB_ID"] = "42", ["SLURM_JOB_NODELIST"] = "node[01-03],gpu7", ["SLURM_TASKS_PER_NODE"] = "2(x3),1", ["SLURM_NTASKS_PER_NODE"] = "9",
        });
        Assert.NotNull(allocation);
        Assert.Equal("42", allocation.JobId);
        Assert.Equal(["node01:2", "node02:2", "node03:2", "gpu7:1"], allocation.Hosts.Hosts.Select(h => h.Line));
        Assert.Equal(7, allocation.Hosts.Slots);
        Assert.Equal("node01:2, node02:2, node03:2, gpu7:1", allocation.Describe());
    }

    [Fact]
    public void NtasksPerNodeServesWhenTasksPerNodeIsMissing()
    {
        var allocation = SlurmAllocation.FromEnvironment(new Dictionary<string, string> { ["SLURM_JOB_NODELIST"] = "n[1-2]", ["SLURM_NTASKS_PER_NODE"] = "3" });
        Assert.Equal(["n1:3", "n2:3"], allocation!.Hosts.Hosts.Select(h => h.Line));
    }

    [Theory]
    [InlineData("")]
    [InlineData("SLURM_JOB_NODELIST=n[1-2]")]
    [InlineData("SLURM_TASKS_PER_NODE=2(x2)")]
    public void OutsideAnAllocationThereIsNone(string environment) =>
        Assert.Null(SlurmAllocation.FromEnvironment(environment.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2)).ToDictionary(p => p[0], p => p[1])));

    [Theory]
    [InlineData("n[1-3]", "2(x2)", null, "SLURM_TASKS_PER_NODE '2(x2)' gives 2 node(s) but SLURM_JOB_NODELIST 'n[1-3]' has 3")]
    [InlineData("n[1-3]", null, "two", "SLURM_NTASKS_PER_NODE 'two': expected a task count >= 1")]
    public void CountsThatDoNotFitTheNodesAreRefused(string nodeList, string? tasksPerNode, string? ntasksPerNode, string problem)
    {
        var environment = new Dictionary<string, string> { ["SLURM_JOB_NODELIST"] = nodeList };
        if (tasksPerNode is not null)
        {
            environment["SLURM_TASKS_PER_NODE"] = tasksPerNode;
        }
        if (ntasksPerNode is not null)
        {
            environment["SLURM_NTASKS_PER_NODE"] = ntasksPerNode;
        }
        var e = Assert.Throws<UsageException>(() => SlurmAllocation.FromEnvironment(environment));
        Assert.StartsWith(problem, e.Message);
        Assert.EndsWith("give --hostfile FILE to place the ranks yourself", e.Message);
    }
}
