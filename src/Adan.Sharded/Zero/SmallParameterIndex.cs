using Adan.Sharded.Flat;
using Adan.Sharded.Optim;

namespace Adan.Sharded.Zero;

/// <summary>
/// The index space of the elements of small parameters (fewer than <see cref="StateCodes.SmallTensorNumel"/>), which keep
/// fp32 state in every mode: those elements in layout order without padding. An element's index does not depend on the
/// layout's world size or alignment, and a contiguous flat range maps to a contiguous range of it, so a rank keeps one
/// run of it and a checkpoint reshards it as it does the flat buffer.
/// </summary>
public sealed class SmallParameterIndex
{
    private readonly FlatLayout _layout;
    private readonly long[] _before;

    /// <summary>Indexes the small parameters of <paramref name="layout"/>.</summary>
    public SmallParameterIndex(FlatLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        _layout = layout;
        _before = new long[layout.Entries.Count + 1];
        for (var i = 0; i < layout.Entries.Count; i++)
        {
            _before[i + 1] = _before[i] + (IsSmall(layout.Entries[i].Numel) ? layout.Entries[i].Numel : 0);
        }
    }

    /// <summary>Whether a parameter of <paramref name="numel"/> elements keeps fp32 state.</summary>
    public static bool IsSmall(long numel) => numel < StateCodes.SmallTensorNumel;

    /// <summary>Elements of small parameters in the whole layout.</summary>
    public long Total => _before[^1];

    /// <summary>Whether parameter <paramref name="parameter"/> is small.</summary>
    public bool Contains(int parameter) => IsSmall(_layout.Entries[parameter].Numel);

    /// <summary>Elements of small parameters at flat indices below <paramref name="flatIndex"/>.</summary>
    public long Before(long flatIndex)
    {
        long count = 0;
        for (var i = 0; i < _layout.Entries.Count; i++)
        {
            var e = _layout.Entries[i];
            if (e.Offset >= flatIndex)
            {
                break;
            }
            if (IsSmall(e.Numel))
            {
                count += Math.Min(e.Numel, flatIndex - e.Offset);
            }
        }
        return count;
    }

    /// <summary>The index of parameter <paramref name="parameter"/>'s element <paramref name="element"/>.</summary>
    public long Of(int parameter, long element) => _before[parameter] + element;
}
