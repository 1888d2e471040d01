using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Commands;

/// <summary>
/// <c>adan config keys [--json]</c>: every configuration key with its type, default, valid range and description, from
/// <see cref="ConfigKeys"/>, the table read from the binder's own contract; <c>--json</c> writes the same rows as a
/// JSON array for tools.
/// </summary>
internal static class ConfigCommand
{
    private static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true };

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Write the keys as a JSON array of {name, type, default, range, description, architecture}" };
        var keys = new Command("keys", "List every key of a training config (adan train --config/--set): type, default, valid range, description") { json };
        keys.SetAction(result =>
        {
            Console.Out.Write(result.GetValue(json) ? KeysAsJson() : KeysAsTable());
            return ExitCodes.Success;
        });
        var command = new Command("config", "Describe the training configuration");
        command.Subcommands.Add(keys);
        return command;
    }

    /// <summary>One aligned line per key: name, type, default, range, then the description.</summary>
    public static string KeysAsTable()
    {
        string[] header = ["key", "type", "default", "range", "description"];
        var rows = ConfigKeys.All.Select(k => new[]
            {
                k.Name, k.Type, k.Default.Length == 0 ? "\"\"" : k.Default, k.Range, k.Architecture ? $"{k.Description} [architecture]" : k.Description,
            })
            .Prepend(header).ToList();
        var widths = Enumerable.Range(0, header.Length - 1).Select(column => rows.Max(row => row[column].Length)).ToArray();
        var writer = new StringWriter();
        foreach (var row in rows)
        {
            writer.WriteLine(string.Join("  ", row.Select((cell, column) => column < widths.Length ? cell.PadRight(widths[column]) : cell)));
        }
        return writer.ToString();
    }

    /// <summary>The keys as a JSON array; <c>default</c> is the value as a config file spells it, as text.</summary>
    public static string KeysAsJson() =>
        new JsonArray([.. ConfigKeys.All.Select(k => new JsonObject
        {
            ["name"] = k.Name,
            ["type"] = k.Type,
            ["default"] = k.Default,
            ["range"] = k.Range,
            ["description"] = k.Description,
            ["architecture"] = k.Architecture,
        })]).ToJsonString(s_indented) + Environment.NewLine;
}
