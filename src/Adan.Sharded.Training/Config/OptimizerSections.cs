using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Adan.Sharded.Zero;

namespace Adan.Sharded.Training.Config;

/// <summary>
/// The optimizer sections of a config, <c>"adan": { "lr": 0.002, "betas": [0.98, 0.92, 0.99] }</c>: one per optimizer
/// of <see cref="OptimizerRegistry"/>, each bound to that optimizer's own options record, so that its keys and
/// defaults are the reference's and a new optimizer brings its section with it. A config may hold sections of
/// optimizers it does not train with (they are kept and validated); an optimizer without a section has its
/// reference's defaults.
/// </summary>
/// <remarks>
/// The records' learning rate is settable (the engine moves it every step), so a section is copied on the way in and
/// on the way out: training never changes the config it was built from.
/// </remarks>
internal sealed class OptimizerSections : IEquatable<OptimizerSections>
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    private readonly Dictionary<string, IGroupOptions> _sections = new(StringComparer.Ordinal);

    /// <summary>The given sections, one per optimizer (a later record of the same optimizer wins).</summary>
    /// <exception cref="ArgumentException">A record is not any registered optimizer's options.</exception>
    public OptimizerSections(IEnumerable<IGroupOptions> sections)
    {
        ArgumentNullException.ThrowIfNull(sections);
        foreach (var section in sections)
        {
            ArgumentNullException.ThrowIfNull(section);
            _sections[OptimizerRegistry.ForOptions(section.GetType()).Name] = Copy(section);
        }
    }

    /// <summary>No section: every optimizer has its reference's defaults.</summary>
    public static OptimizerSections None { get; } = new([]);

    /// <summary>The optimizers that have a section, in registry order.</summary>
    public IEnumerable<string> Names => OptimizerRegistry.Names.Where(_sections.ContainsKey);

    /// <summary>The JSON serializer options the sections are read and written with (unknown members refused).</summary>
    internal static JsonSerializerOptions Json => s_json;

    /// <summary>Whether <paramref name="optimizer"/> has a section.</summary>
    public bool Contains(string optimizer) => _sections.ContainsKey(optimizer);

    /// <summary>A fresh copy of the options of <paramref name="optimizer"/>: its section, else its reference's defaults.</summary>
    /// <exception cref="ArgumentException">No optimizer has that name.</exception>
    public IGroupOptions For(string optimizer) =>
        _sections.TryGetValue(optimizer, out var options) ? Copy(options) : OptimizerRegistry.Get(optimizer).DefaultOptions();

    /// <summary>These sections with <paramref name="options"/> as its optimizer's section.</summary>
    public OptimizerSections With(IGroupOptions options) => new([.. _sections.Values, options]);

    /// <summary>The keys of the section of <paramref name="optimizer"/>, as its options record names them.</summary>
    public static IReadOnlyList<string> KeysOf(string optimizer) =>
        // The contract lists ignored members (the records' Beta1, ...) too, with no getter.
        [.. s_json.GetTypeInfo(OptimizerRegistry.Get(optimizer).OptionsType).Properties.Where(property => property.Get is not null).Select(property => property.Name)];

    /// <summary>The section's JSON form, every key with its value.</summary>
    public static JsonObject ToJson(IGroupOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return (JsonObject)JsonSerializer.SerializeToNode(options, options.GetType(), s_json)!;
    }

    /// <inheritdoc />
    public bool Equals(OptimizerSections? other) =>
        other is not null && _sections.Count == other._sections.Count
        && _sections.All(pair => other._sections.TryGetValue(pair.Key, out var options) && pair.Value.Equals(options));

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as OptimizerSections);

    /// <inheritdoc />
    public override int GetHashCode() => _sections.Count;

    /// <summary>The sections as a config prints them, e.g. <c>adan</c>.</summary>
    public override string ToString() => string.Join(", ", Names);

    private static IGroupOptions Copy(IGroupOptions options) => (IGroupOptions)ToJson(options).Deserialize(options.GetType(), s_json)!;
}
