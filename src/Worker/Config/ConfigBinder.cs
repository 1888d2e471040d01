using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Adan.Worker.Config;

/// <summary>
/// Binds <see cref="TrainConfig"/> with System.Text.Json: the <c>key=value</c> overrides are merged over the JSON
/// object of the config file and the result is deserialized once, so a value is accepted or refused with the same
/// one-line message wherever it comes from. Keys are the snake_case property names, enum values their kebab-case
/// names (<c>fashion-mnist</c>, <c>cosine</c>), and an unknown key is refused.
/// </summary>
public static class ConfigBinder
{
    /// <summary>The composite key that sets <c>beta1</c>, <c>beta2</c> and <c>beta3</c> at once.</summary>
    public const string BetasKey = "betas";

    private const string OverrideSource = "--set";

    private static readonly string[] s_betaKeys = ["beta1", "beta2", "beta3"];

    private static readonly JsonSerializerOptions s_options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { KeysAreSettableProperties } },
        Converters =
        {
            new ZeroStageJsonConverter(),
            new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false),
        },
    };

    private static readonly JsonDocumentOptions s_documentOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        // A key given twice is a mistake in one of the two places; refuse it rather than pick one.
        AllowDuplicateProperties = false,
    };

    private static readonly JsonTypeInfo s_typeInfo = s_options.GetTypeInfo(typeof(TrainConfig));

    private static readonly Dictionary<string, JsonPropertyInfo> s_byKey =
        s_typeInfo.Properties.ToDictionary(property => property.Name, StringComparer.Ordinal);

    /// <summary>Every key, in declaration order (plus <see cref="BetasKey"/>).</summary>
    public static IEnumerable<string> Keys => s_typeInfo.Properties.Select(property => property.Name).Append(BetasKey);

    /// <summary>
    /// Loads <paramref name="configFile"/> (when not null), applies <paramref name="overrides"/>
    /// (<c>key=value</c>, later ones win) and validates the result.
    /// </summary>
    /// <exception cref="ConfigException">A file, key or value is invalid.</exception>
    public static TrainConfig Load(string? configFile, IEnumerable<string>? overrides)
    {
        if (configFile is null)
        {
            return Bind(null, overrides);
        }
        if (!File.Exists(configFile))
        {
            throw new ConfigException($"Config file '{configFile}' not found.");
        }
        return Bind(File.ReadAllText(configFile), overrides, configFile);
    }

    /// <summary>
    /// Binds the JSON object <paramref name="json"/> with <paramref name="overrides"/> merged over it, and validates
    /// the result; keys neither sets keep their defaults.
    /// </summary>
    /// <param name="json">A JSON object of snake_case keys (comments and trailing commas allowed), or null for none.</param>
    /// <param name="overrides"><c>key=value</c> assignments, later ones win.</param>
    /// <param name="source">Names the JSON in errors (e.g. the file path).</param>
    /// <exception cref="ConfigException">The JSON is malformed, or a key or value is invalid.</exception>
    public static TrainConfig Bind(string? json, IEnumerable<string>? overrides = null, string source = "config")
    {
        var root = json is null ? new JsonObject() : ParseObject(json, source);
        ExpandBetas(root, source);
        var overridden = new HashSet<string>(StringComparer.Ordinal);
        foreach (var assignment in overrides ?? [])
        {
            foreach (var (key, value) in Assignments(assignment))
            {
                root[key] = value;
                overridden.Add(key);
            }
        }

        TrainConfig config;
        try
        {
            config = (TrainConfig)root.Deserialize(s_typeInfo)!;
        }
        catch (JsonException e)
        {
            var key = root.Select(member => member.Key).FirstOrDefault(name => e.Path == $"$.{name}" || e.Path == $"$['{name}']");
            if (key is null)
            {
                throw new ConfigException($"{source} is not a valid config: {e.Message}");
            }
            throw Refusal(key, root[key], overridden.Contains(key) ? OverrideSource : source);
        }
        Validate(config);
        return config;
    }

    /// <summary>
    /// Checks every range declared on <see cref="TrainConfig"/>, then the rules that involve several keys, with the
    /// DataAnnotations validator.
    /// </summary>
    /// <exception cref="ConfigException">Names the first offending key, its value and its valid range or choices.</exception>
    public static void Validate(TrainConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var results = new List<ValidationResult>();
        if (Validator.TryValidateObject(config, new ValidationContext(config), results, validateAllProperties: true))
        {
            return;
        }
        // An attribute's result names its property and is rephrased with the key; a rule's result names none and is
        // already phrased for the user.
        var result = results[0];
        throw new ConfigException(result.MemberNames.FirstOrDefault() is { } member
            ? Invalid(s_typeInfo.Properties.Single(property => Member(property).Name == member), config)
            : result.ErrorMessage!);
    }

    /// <summary>Renders every key and its effective value, one per line, aligned.</summary>
    public static string Describe(TrainConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var width = s_typeInfo.Properties.Max(property => property.Name.Length);
        var builder = new StringBuilder();
        foreach (var property in s_typeInfo.Properties)
        {
            builder.Append(property.Name.PadRight(width)).Append(" = ").AppendLine(Format(property.Get!(config)));
        }
        return builder.ToString();
    }

    /// <summary>The config spelling of an enum value (e.g. <c>fashion-mnist</c>, <c>adamw</c>).</summary>
    public static string Name<TEnum>(TEnum value)
        where TEnum : struct, Enum =>
        Format(value);

    /// <summary>A value as a config file spells it: enums by their config name, numbers in the invariant culture.</summary>
    internal static string Format(object? value) =>
        value switch
        {
            null => "null",
            bool b => b ? "true" : "false",
            Enum e => JsonSerializer.SerializeToElement(e, e.GetType(), s_options).ToString(),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? string.Empty,
        };

    /// <summary>
    /// Drops the computed properties (such as <see cref="TrainConfig.ResolvedCheckpointDir"/>) from the contract, so
    /// that they are neither printed nor accepted as keys.
    /// </summary>
    private static void KeysAreSettableProperties(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Type != typeof(TrainConfig))
        {
            return;
        }
        for (var i = typeInfo.Properties.Count - 1; i >= 0; i--)
        {
            if (typeInfo.Properties[i].Set is null)
            {
                typeInfo.Properties.RemoveAt(i);
            }
        }
    }

    private static JsonObject ParseObject(string json, string source)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: s_documentOptions);
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{source} is not valid JSON: {e.Message}");
        }
        return node as JsonObject
            ?? throw new ConfigException($"{source} must hold a JSON object of snake_case keys, found {node?.GetValueKind().ToString() ?? "null"}.");
    }

    /// <summary>Replaces <c>"betas": [β1, β2, β3]</c> by the three keys it stands for.</summary>
    private static void ExpandBetas(JsonObject root, string source)
    {
        if (!root.TryGetPropertyValue(BetasKey, out var betas))
        {
            return;
        }
        if (betas is not JsonArray { Count: 3 } array)
        {
            throw BadBetas(betas?.ToJsonString() ?? "null", source);
        }
        root.Remove(BetasKey);
        for (var i = 0; i < s_betaKeys.Length; i++)
        {
            root[s_betaKeys[i]] = array[i]?.DeepClone();
        }
    }

    /// <summary>The keys and JSON values one <c>key=value</c> override sets.</summary>
    private static IEnumerable<(string Key, JsonNode? Value)> Assignments(string assignment)
    {
        var equals = assignment.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            throw new ConfigException($"--set '{assignment}' is not key=value (e.g. --set lr=0.001).");
        }
        var key = assignment[..equals].Trim();
        var text = assignment[(equals + 1)..].Trim();
        if (key != BetasKey)
        {
            return [(key, Literal(key, text))];
        }
        var parts = text.Trim('[', ']', '(', ')').Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != s_betaKeys.Length)
        {
            throw BadBetas($"'{text}'", OverrideSource);
        }
        return s_betaKeys.Zip(parts, (beta, part) => (beta, Literal(beta, part)));
    }

    /// <summary>
    /// The JSON value of an override's text: a number or boolean literal as such, anything else (names, paths) as a
    /// string; a string key always takes the text, so that <c>run_dir=2024</c> is a directory name.
    /// </summary>
    private static JsonNode? Literal(string key, string text)
    {
        if (!(s_byKey.TryGetValue(key, out var property) && property.PropertyType == typeof(string)))
        {
            try
            {
                if (JsonNode.Parse(text) is JsonValue value && value.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False)
                {
                    return value;
                }
            }
            catch (JsonException)
            {
                // Not a JSON literal: the text is a name or a path.
            }
        }
        return JsonValue.Create(text);
    }

    private static ConfigException BadBetas(string value, string source) =>
        new($"Invalid {BetasKey} in {source}: {value}; expected three numbers β1,β2,β3 each in [0, 0.999999] (e.g. [0.98, 0.92, 0.99]).");

    /// <summary>The error for a key the serializer refused: unknown, or a value of the wrong kind.</summary>
    private static ConfigException Refusal(string key, JsonNode? value, string source)
    {
        if (!s_byKey.TryGetValue(key, out var property))
        {
            var closest = Keys.MinBy(candidate => EditDistance(key, candidate))!;
            return new ConfigException(EditDistance(key, closest) <= Math.Max(2, key.Length / 3)
                ? $"Unknown config key '{key}' in {source}; did you mean '{closest}'?"
                : $"Unknown config key '{key}' in {source}; valid keys: {string.Join(", ", Keys)}.");
        }
        var shown = value?.GetValueKind() == JsonValueKind.String ? $"'{value.GetValue<string>()}'" : value?.ToJsonString() ?? "null";
        var type = property.PropertyType;
        if (type.IsEnum || type == typeof(bool))
        {
            return new ConfigException($"Invalid {key} in {source}: {shown}; valid choices are {Choices(type)}.");
        }
        var kind = type == typeof(string) ? "a string" : type == typeof(double) ? "a number" : "an integer";
        var range = Attributes(property).OfType<RangeAttribute>().SingleOrDefault();
        return new ConfigException($"Invalid {key} in {source}: {shown}; expected {kind}{(range is null ? "" : $" in {Describe(range)}")}.");
    }

    /// <summary>The message for the attribute of <paramref name="property"/> that its value in <paramref name="config"/> fails.</summary>
    private static string Invalid(JsonPropertyInfo property, TrainConfig config)
    {
        var value = property.Get!(config);
        return Attributes(property).First(attribute => !attribute.IsValid(value)) switch
        {
            RangeAttribute range => $"Invalid {property.Name}: {Format(value)}; valid range is {Describe(range)}.",
            RequiredAttribute => $"Invalid {property.Name}: empty; it needs a value.",
            _ => $"Invalid {property.Name}: {Format(value)}; valid choices are {Choices(property.PropertyType)}.",
        };
    }

    private static MemberInfo Member(JsonPropertyInfo property) =>
        (MemberInfo)property.AttributeProvider!;

    private static IEnumerable<ValidationAttribute> Attributes(JsonPropertyInfo property) =>
        Member(property).GetCustomAttributes(typeof(ValidationAttribute), inherit: true).Cast<ValidationAttribute>();

    private static string Choices(Type type) =>
        type == typeof(bool)
            ? "true | false"
            : string.Join(" | ", Enum.GetValues(type).Cast<object>().Select(Format));

    /// <summary>The range as a user reads it, e.g. <c>(0, 10]</c> or <c>[1, 65536]</c>.</summary>
    private static string Describe(RangeAttribute range) =>
        $"{(range.MinimumIsExclusive ? "(" : "[")}{Bound(range.Minimum)}, {Bound(range.Maximum)}{(range.MaximumIsExclusive ? ")" : "]")}";

    private static string Bound(object bound) => bound is double.PositiveInfinity ? "inf" : Format(bound);

    /// <summary>Levenshtein distance, to suggest the key a typo meant.</summary>
    private static int EditDistance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        var current = new int[b.Length + 1];
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
