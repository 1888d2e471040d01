using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Adan.Sharded.Zero;

namespace Adan.Sharded.Training.Config;

/// <summary>
/// Binds <see cref="TrainConfig"/> with System.Text.Json: the <c>key=value</c> overrides are merged over the JSON
/// object of the config file and the result is deserialized once, so a value is accepted or refused with the same
/// one-line message wherever it comes from. Keys are the snake_case property names, enum values their kebab-case
/// names (<c>fashion-mnist</c>, <c>cosine</c>), and an unknown key is refused. A key named after an optimizer
/// (<c>adan</c>, <c>lamb</c>, <c>adamw</c>, <c>sgd</c>) is that optimizer's section, bound to its own options record
/// (<see cref="OptimizerSections"/>); <c>--set adan.lr=0.002</c> sets one of its keys.
/// </summary>
internal static class ConfigBinder
{
    private const string OverrideSource = "--set";

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

    private static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true };

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

    /// <summary>Every key, in declaration order, then the optimizer sections.</summary>
    public static IEnumerable<string> Keys => s_typeInfo.Properties.Select(property => property.Name).Concat(OptimizerRegistry.Names);

    /// <summary>The top-level keys as bound: the JSON contract of <see cref="TrainConfig"/>, which <see cref="ConfigKeys"/> lists.</summary>
    internal static IReadOnlyList<JsonPropertyInfo> Contract => s_typeInfo.Properties.AsReadOnly();

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
        var overridden = new HashSet<string>(StringComparer.Ordinal);
        foreach (var assignment in overrides ?? [])
        {
            var (key, value) = Assignment(assignment);
            if (SectionKey(key) is var (optimizer, sectionKey))
            {
                SectionOf(root, optimizer, overridden.Contains(optimizer) ? OverrideSource : source)[sectionKey] = value;
            }
            else
            {
                root[key] = value;
            }
            overridden.Add(key);
        }
        string Source(string key) => overridden.Contains(key) ? OverrideSource : source;

        RefuseOptimizerKeys(root, Source);
        var sections = new List<IGroupOptions>();
        foreach (var optimizer in OptimizerRegistry.Names)
        {
            if (root.ContainsKey(optimizer))
            {
                sections.Add(BindSection(optimizer, SectionOf(root, optimizer, Source(optimizer)), Source));
                root.Remove(optimizer);
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
            throw Refusal(key, root[key], Source(key));
        }
        config = config with { Sections = new OptimizerSections(sections) };
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

    /// <summary>
    /// Renders every key and its effective value, one per line, aligned: the chosen optimizer's section (given or its
    /// defaults) follows <c>optimizer</c> as <c>adan.lr = ...</c>, and any other section given comes last.
    /// </summary>
    public static string Describe(TrainConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var lines = new List<(string Key, string Value)>();
        foreach (var property in s_typeInfo.Properties)
        {
            lines.Add((property.Name, Format(property.Get!(config))));
            if (property.Name == "optimizer" && OptimizerRegistry.Names.Contains(config.Optimizer))
            {
                lines.AddRange(SectionLines(config.Optimizer, config.OptimizerOptions()));
            }
        }
        foreach (var optimizer in config.Sections.Names.Where(name => name != config.Optimizer))
        {
            lines.AddRange(SectionLines(optimizer, config.Sections.For(optimizer)));
        }
        var width = lines.Max(line => line.Key.Length);
        var builder = new StringBuilder();
        foreach (var (key, value) in lines)
        {
            builder.Append(key.PadRight(width)).Append(" = ").AppendLine(value);
        }
        return builder.ToString();
    }

    /// <summary>
    /// The config as a config file spells it: every key with its bound value, the chosen optimizer's section with its
    /// values (given or defaults) and any other section given; <see cref="Bind"/> of the text gives the same config
    /// back, so a run's <c>resolved-config.json</c> reproduces it even when defaults change later.
    /// </summary>
    public static string ToJson(TrainConfig config) => ToJsonObject(config).ToJsonString(s_indented);

    /// <summary>The JSON object <see cref="ToJson"/> writes.</summary>
    internal static JsonObject ToJsonObject(TrainConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var root = (JsonObject)JsonSerializer.SerializeToNode(config, s_typeInfo)!;
        foreach (var optimizer in config.Sections.Names.Append(config.Optimizer).Distinct().Where(OptimizerRegistry.Names.Contains))
        {
            root[optimizer] = OptimizerSections.ToJson(config.Sections.For(optimizer));
        }
        return root;
    }

    /// <summary>The config spelling of an enum value (e.g. <c>fashion-mnist</c>, <c>adamw</c>).</summary>
    public static string Name<TEnum>(TEnum value)
        where TEnum : struct, Enum =>
        Format(value);

    /// <summary>The lines of one optimizer section, <c>adan.lr</c> and its value as JSON spells it.</summary>
    private static IEnumerable<(string Key, string Value)> SectionLines(string optimizer, IGroupOptions options) =>
        OptimizerSections.ToJson(options).Select(pair => ($"{optimizer}.{pair.Key}", pair.Value?.ToJsonString() ?? "null"));

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

    /// <summary>The key and JSON value one <c>key=value</c> override sets.</summary>
    private static (string Key, JsonNode? Value) Assignment(string assignment)
    {
        var equals = assignment.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            throw new ConfigException($"--set '{assignment}' is not key=value (e.g. --set adan.lr=0.001).");
        }
        var key = assignment[..equals].Trim();
        return (key, Literal(key, assignment[(equals + 1)..].Trim()));
    }

    /// <summary>The optimizer and the key within its section of a dotted key such as <c>adan.lr</c>; null for any other key.</summary>
    /// <exception cref="ConfigException">The part before the dot names no optimizer.</exception>
    private static (string Optimizer, string Key)? SectionKey(string key)
    {
        var dot = key.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0)
        {
            return null;
        }
        var optimizer = key[..dot];
        if (!OptimizerRegistry.Names.Contains(optimizer))
        {
            throw new ConfigException(
                $"Unknown config key '{key}' in {OverrideSource}; a dotted key sets a key of an optimizer's section ({string.Join(", ", OptimizerRegistry.Names)}), e.g. adan.lr=0.001.");
        }
        return (optimizer, key[(dot + 1)..]);
    }

    /// <summary>The section object of <paramref name="optimizer"/> in <paramref name="root"/>, created empty when absent.</summary>
    private static JsonObject SectionOf(JsonObject root, string optimizer, string source)
    {
        if (!root.TryGetPropertyValue(optimizer, out var node) || node is null)
        {
            var created = new JsonObject();
            root[optimizer] = created;
            return created;
        }
        return node as JsonObject
            ?? throw new ConfigException(
                $"Invalid {optimizer} in {source}: {node.ToJsonString()}; the {optimizer} section is a JSON object of {string.Join(", ", OptimizerSections.KeysOf(optimizer))} (e.g. \"{optimizer}\": {{ \"lr\": 0.001 }}).");
    }

    /// <summary>
    /// Refuses a key that belongs in an optimizer's section (the flat <c>lr</c>, <c>beta1</c>, <c>momentum</c>, ... of
    /// earlier configs) with the section key to use: read as some optimizer's, it would silently set the wrong one.
    /// </summary>
    private static void RefuseOptimizerKeys(JsonObject root, Func<string, string> source)
    {
        var chosen = root["optimizer"] is JsonValue value && value.TryGetValue<string>(out var name) ? name : new TrainConfig().Optimizer;
        foreach (var (key, _) in root)
        {
            var sectionKey = key is "beta1" or "beta2" or "beta3" ? "betas" : key;
            var owners = OptimizerRegistry.Names.Where(optimizer => OptimizerSections.KeysOf(optimizer).Contains(sectionKey))
                .OrderBy(optimizer => optimizer == chosen ? 0 : 1).Select(optimizer => $"{optimizer}.{sectionKey}").ToArray();
            if (owners.Length > 0)
            {
                throw new ConfigException(
                    $"Invalid key '{key}' in {source(key)}: optimizer settings live in the optimizer's section; use {owners[0]}{(owners.Length > 1 ? $" (or {string.Join(", ", owners[1..])})" : "")} instead.");
            }
        }
    }

    /// <summary>Binds the section of <paramref name="optimizer"/> to its options record; ranges are checked with the rest of the config.</summary>
    private static IGroupOptions BindSection(string optimizer, JsonObject section, Func<string, string> source)
    {
        var keys = OptimizerSections.KeysOf(optimizer);
        foreach (var (key, _) in section)
        {
            if (!keys.Contains(key))
            {
                throw new ConfigException(
                    $"Unknown config key '{optimizer}.{key}' in {source($"{optimizer}.{key}")}; the {optimizer} section takes {string.Join(", ", keys)}.");
            }
        }
        var type = OptimizerRegistry.Get(optimizer).OptionsType;
        try
        {
            return (IGroupOptions)section.Deserialize(type, OptimizerSections.Json)!;
        }
        catch (JsonException e)
        {
            var key = keys.FirstOrDefault(k => e.Path is { } path && (path == $"$.{k}" || path.StartsWith($"$.{k}[", StringComparison.Ordinal)))
                ?? throw new ConfigException($"{source(optimizer)} is not a valid {optimizer} section: {e.Message}");
            var value = section[key];
            var shown = value?.GetValueKind() == JsonValueKind.String ? $"'{value.GetValue<string>()}'" : value?.ToJsonString() ?? "null";
            var property = OptimizerSections.Json.GetTypeInfo(type).Properties.Single(p => p.Name == key);
            var expected = property.PropertyType == typeof(bool) ? "valid choices are true | false"
                : property.PropertyType == typeof(double[]) ? "expected a JSON array of numbers, e.g. [0.9, 0.999]"
                : "expected a number";
            throw new ConfigException($"Invalid {optimizer}.{key} in {source($"{optimizer}.{key}")}: {shown}; {expected}.");
        }
        catch (ArgumentException e)
        {
            throw new ConfigException(SectionMessage(optimizer, e, source));
        }
    }

    /// <summary>
    /// An options record's refusal (in the reference's words, e.g. <c>Invalid beta2: 1; it must be in [0, 1).</c>)
    /// prefixed with the section key to change, e.g. <c>adan.betas: ...</c>.
    /// </summary>
    internal static string SectionMessage(string optimizer, ArgumentException e, Func<string, string>? source = null)
    {
        ArgumentNullException.ThrowIfNull(e);
        var key = e.ParamName switch
        {
            "beta1" or "beta2" or "beta3" => "betas",
            "maxGradNorm" => "max_grad_norm",
            { } name => name,
            null => null,
        };
        var where = key is not null && OptimizerSections.KeysOf(optimizer).Contains(key) ? $"{optimizer}.{key}" : optimizer;
        var message = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
        return source is null ? $"{where}: {message}" : $"{where} in {source(where)}: {message}";
    }

    /// <summary>
    /// The JSON value of an override's text: a number or boolean literal as such (and, for a section key, a JSON array
    /// such as <c>[0.9, 0.999]</c>), anything else (names, paths) as a string; a string key always takes the text, so
    /// that <c>run_dir=2024</c> is a directory name.
    /// </summary>
    private static JsonNode? Literal(string key, string text)
    {
        var sectionKey = key.Contains('.', StringComparison.Ordinal);
        if (!(s_byKey.TryGetValue(key, out var property) && property.PropertyType == typeof(string)))
        {
            try
            {
                var node = JsonNode.Parse(text);
                if ((node is JsonValue value && value.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False)
                    || (sectionKey && node is JsonArray))
                {
                    return node;
                }
            }
            catch (JsonException)
            {
                // Not a JSON literal: the text is a name or a path.
            }
        }
        return JsonValue.Create(text);
    }

    /// <summary>The error for a key the serializer refused: unknown, or a value of the wrong kind.</summary>
    private static ConfigException Refusal(string key, JsonNode? value, string source)
    {
        if (!s_byKey.TryGetValue(key, out var property))
        {
            var closest = Keys.MinBy(candidate => EditDistance(key, candidate))!;
            return new ConfigException(EditDistance(key, closest) <= Math.Max(2, key.Length / 3)
                ? $"Unknown config key '{key}' in {source}; did you mean '{closest}'?"
                : $"Unknown config key '{key}' in {source}; valid keys: {string.Join(", ", Keys)} (adan config keys describes each).");
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

    internal static MemberInfo Member(JsonPropertyInfo property) =>
        (MemberInfo)property.AttributeProvider!;

    private static IEnumerable<ValidationAttribute> Attributes(JsonPropertyInfo property) =>
        Member(property).GetCustomAttributes(typeof(ValidationAttribute), inherit: true).Cast<ValidationAttribute>();

    internal static string Choices(Type type) =>
        type == typeof(bool)
            ? "true | false"
            : string.Join(" | ", Enum.GetValues(type).Cast<object>().Select(Format));

    /// <summary>The range as a user reads it, e.g. <c>(0, 10]</c> or <c>[1, 65536]</c>.</summary>
    internal static string Describe(RangeAttribute range) =>
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
