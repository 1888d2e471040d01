using System.Collections;
using System.Globalization;
using System.Text;
using Adan.Coordinator.Protocol;
using Adan.Worker.Commands;

namespace Adan.Worker.Launch;

/// <summary>
/// The hosts of the Slurm allocation <c>adan launch</c> runs in, as a hostfile: the nodes of <c>SLURM_JOB_NODELIST</c>
/// (Slurm's compressed form, expanded here as <c>scontrol show hostnames</c> would) with the task counts of
/// <c>SLURM_TASKS_PER_NODE</c> (or <c>SLURM_NTASKS_PER_NODE</c>). Hydra started on that hostfile inside the
/// allocation starts its proxies with srun.
/// </summary>
/// <param name="JobId">The allocation's job id (<c>SLURM_JOB_ID</c>), or null.</param>
/// <param name="NodeList">The node list as Slurm gave it.</param>
/// <param name="Hosts">One host per node with its task count, in Slurm's order.</param>
internal sealed record SlurmAllocation(string? JobId, string NodeList, Hostfile Hosts)
{
    /// <summary>The variables the allocation is read from.</summary>
    public const string NodeListVariable = "SLURM_JOB_NODELIST";

    /// <summary>The task counts per node, compressed: <c>2(x3),1</c>.</summary>
    public const string TasksPerNodeVariable = "SLURM_TASKS_PER_NODE";

    /// <summary>The one task count of every node, set by <c>--ntasks-per-node</c>.</summary>
    public const string NtasksPerNodeVariable = "SLURM_NTASKS_PER_NODE";

    /// <summary>The allocation this process runs in, or null outside one.</summary>
    public static SlurmAllocation? FromProcess()
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            variables[(string)entry.Key] = entry.Value as string ?? "";
        }
        return FromEnvironment(variables);
    }

    /// <summary>
    /// The allocation <paramref name="environment"/> describes, or null when it names no node list and no tasks per node
    /// (not inside an allocation, or a job step that gave none).
    /// </summary>
    /// <exception cref="UsageException">A variable is malformed, or the counts do not match the nodes.</exception>
    public static SlurmAllocation? FromEnvironment(IReadOnlyDictionary<string, string> environment)
    {
        if (!environment.TryGetValue(NodeListVariable, out var nodeList))
        {
            return null;
        }
        var nodes = ExpandNodeList(nodeList);
        IReadOnlyList<int> counts;
        string countsFrom;
        if (environment.TryGetValue(TasksPerNodeVariable, out var tasksPerNode))
        {
            counts = ExpandTasksPerNode(tasksPerNode);
            countsFrom = $"{TasksPerNodeVariable} '{tasksPerNode}'";
        }
        else if (environment.TryGetValue(NtasksPerNodeVariable, out var each))
        {
            if (!int.TryParse(each, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
            {
                throw Malformed(NtasksPerNodeVariable, each, "expected a task count >= 1");
            }
            counts = [.. Enumerable.Repeat(n, nodes.Count)];
            countsFrom = $"{NtasksPerNodeVariable} '{each}'";
        }
        else
        {
            return null;
        }
        if (counts.Count != nodes.Count)
        {
            throw new UsageException(
                $"{countsFrom} gives {counts.Count} node(s) but {NodeListVariable} '{nodeList}' has {nodes.Count}; give --hostfile FILE to place the ranks yourself");
        }
        var hosts = nodes.Select((node, i) => new HostSlots(node, counts[i], $"{node}:{counts[i].ToString(CultureInfo.InvariantCulture)}")).ToList();
        return new SlurmAllocation(environment.GetValueOrDefault("SLURM_JOB_ID"), nodeList, new Hostfile(hosts));
    }

    /// <summary>The hosts and their tasks, for the line that tells the user where the ranks go: <c>n01:2, n02:2</c>.</summary>
    public string Describe() => string.Join(", ", Hosts.Hosts.Select(h => h.Line));

    /// <summary>
    /// Expands a Slurm node list: comma-separated names, each with any number of bracket groups of comma-separated
    /// numbers and ranges (<c>node[01-04,07]</c>, <c>a[1-2]-ib</c>, <c>b[01-02]c[3-4]</c>). A range keeps the width of its
    /// first number (<c>[08-10]</c> is 08, 09, 10); several groups expand left to right, the first outermost.
    /// </summary>
    /// <exception cref="UsageException">The list is malformed or names more than <see cref="CoordinatorLimits.MaxWorldSize"/> nodes.</exception>
    public static IReadOnlyList<string> ExpandNodeList(string nodeList)
    {
        var hosts = new List<string>();
        foreach (var name in SplitOutsideBrackets(nodeList))
        {
            var expansions = new List<string> { "" };
            var i = 0;
            while (i < name.Length)
            {
                if (name[i] == '[')
                {
                    var close = name.IndexOf(']', i);
                    if (close < 0)
                    {
                        throw Malformed(NodeListVariable, nodeList, $"'[' at {i} of '{name}' is never closed");
                    }
                    var numbers = ExpandRanges(name[(i + 1)..close], nodeList);
                    if ((long)expansions.Count * numbers.Count + hosts.Count > CoordinatorLimits.MaxWorldSize)
                    {
                        throw Malformed(NodeListVariable, nodeList, $"more than {CoordinatorLimits.MaxWorldSize} nodes");
                    }
                    expansions = [.. expansions.SelectMany(prefix => numbers.Select(number => prefix + number))];
                    i = close + 1;
                }
                else if (name[i] == ']')
                {
                    throw Malformed(NodeListVariable, nodeList, $"']' at {i} of '{name}' closes no '['");
                }
                else if (char.IsAsciiLetterOrDigit(name[i]) || name[i] is '-' or '.' or '_')
                {
                    var end = i;
                    while (end < name.Length && (char.IsAsciiLetterOrDigit(name[end]) || name[end] is '-' or '.' or '_'))
                    {
                        end++;
                    }
                    var text = name[i..end];
                    expansions = [.. expansions.Select(prefix => prefix + text)];
                    i = end;
                }
                else
                {
                    throw Malformed(NodeListVariable, nodeList, $"'{name[i]}' cannot be part of a host name");
                }
            }
            hosts.AddRange(expansions);
        }
        return hosts;
    }

    /// <summary>Expands Slurm's task counts per node: <c>2(x3),1</c> is 2, 2, 2, 1.</summary>
    /// <exception cref="UsageException">A group is not <c>N</c> or <c>N(xM)</c> with N, M ≥ 1.</exception>
    public static IReadOnlyList<int> ExpandTasksPerNode(string tasksPerNode)
    {
        var counts = new List<int>();
        foreach (var group in tasksPerNode.Split(','))
        {
            var open = group.IndexOf('(');
            var countText = open < 0 ? group : group[..open];
            var repeat = 1;
            if (!int.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count < 1
                || (open >= 0 && !(group.EndsWith(')') && group.Length > open + 3 && group[open + 1] == 'x'
                    && int.TryParse(group.AsSpan(open + 2, group.Length - open - 3), NumberStyles.None, CultureInfo.InvariantCulture, out repeat) && repeat >= 1)))
            {
                throw Malformed(TasksPerNodeVariable, tasksPerNode, $"'{group}' is not N or N(xM) with N, M >= 1");
            }
            if ((long)counts.Count + repeat > CoordinatorLimits.MaxWorldSize)
            {
                throw Malformed(TasksPerNodeVariable, tasksPerNode, $"more than {CoordinatorLimits.MaxWorldSize} nodes");
            }
            counts.AddRange(Enumerable.Repeat(count, repeat));
        }
        return counts;
    }

    /// <summary>The numbers of one bracket group, <c>01-04,07</c>, as text with the width of each range's first number.</summary>
    private static List<string> ExpandRanges(string group, string nodeList)
    {
        var numbers = new List<string>();
        foreach (var range in group.Split(','))
        {
            var parts = range.Split('-');
            if (parts.Length > 2 || parts.Any(p => p.Length == 0 || !p.All(char.IsAsciiDigit)))
            {
                throw Malformed(NodeListVariable, nodeList, $"'[{group}]' holds '{range}', which is not a number or a range N-M");
            }
            if (!long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
                || !long.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var last))
            {
                throw Malformed(NodeListVariable, nodeList, $"'{range}' is too large a number");
            }
            if (last < first)
            {
                throw Malformed(NodeListVariable, nodeList, $"the range '{range}' runs backwards");
            }
            if (last - first + numbers.Count >= CoordinatorLimits.MaxWorldSize)
            {
                throw Malformed(NodeListVariable, nodeList, $"more than {CoordinatorLimits.MaxWorldSize} nodes");
            }
            var width = parts[0].Length;
            for (var n = first; n <= last; n++)
            {
                numbers.Add(n.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0'));
            }
        }
        return numbers;
    }

    /// <summary>The list's names: split at commas outside brackets.</summary>
    private static List<string> SplitOutsideBrackets(string nodeList)
    {
        var names = new List<string>();
        var current = new StringBuilder();
        var depth = 0;
        foreach (var c in nodeList)
        {
            if (c == ',' && depth == 0)
            {
                names.Add(current.ToString());
                current.Clear();
                continue;
            }
            depth += c switch { '[' => 1, ']' => -1, _ => 0 };
            if (depth > 1)
            {
                throw Malformed(NodeListVariable, nodeList, "brackets cannot nest");
            }
            current.Append(c);
        }
        names.Add(current.ToString());
        return names.Any(n => n.Length == 0) ? throw Malformed(NodeListVariable, nodeList, "an empty name") : names;
    }

    private static UsageException Malformed(string variable, string value, string problem) =>
        new($"{variable} '{value}': {problem}; give --hostfile FILE to place the ranks yourself");
}
