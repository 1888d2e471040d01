using System.Text;
using Adan.Sharded.Collectives;
using static TorchSharp.torch;

namespace Adan.Sharded.Training;

/// <summary>Sends a string from one rank to all, over the tensor <see cref="ICollective.Broadcast"/>.</summary>
internal static class TextBroadcast
{
    /// <summary>Returns <paramref name="root"/>'s <paramref name="text"/> on every rank (UTF-8, its length sent first).</summary>
    /// <param name="collective">The job's ranks.</param>
    /// <param name="text">The text on <paramref name="root"/>; ignored on the other ranks.</param>
    /// <param name="root">The rank that sends.</param>
    /// <remarks>Collective: every rank must call.</remarks>
    public static string Broadcast(ICollective collective, string text, int root = 0)
    {
        var bytes = collective.Rank == root ? Encoding.UTF8.GetBytes(text) : [];
        using var length = tensor(new long[] { bytes.Length });
        collective.Broadcast(length, root);
        var count = length.item<long>();
        if (count == 0)
        {
            return string.Empty;
        }
        using var data = collective.Rank == root ? tensor(bytes) : zeros(count, ScalarType.Byte);
        collective.Broadcast(data, root);
        return Encoding.UTF8.GetString(data.bytes);
    }
}
