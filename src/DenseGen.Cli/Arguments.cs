using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace DenseGen.Cli;

/// <summary>--name value and --flag options after a command; every option must be consumed, or it is an error.</summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = [];

    public Arguments(IEnumerable<string> args, params string[] flags)
    {
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            string a = list[i];
            if (!a.StartsWith("--", StringComparison.Ordinal)) throw new UsageException($"unexpected argument '{a}'; options are written --name value.");
            string name = a[2..];
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
            else if (!flags.Contains(name))
            {
                if (i + 1 >= list.Count) throw new UsageException($"--{name} needs a value.");
                value = list[++i];
            }
            _options[name] = value;
        }
    }

    public bool Flag(string name) { _used.Add(name); return _options.ContainsKey(name); }

    public string? String(string name) { _used.Add(name); return _options.TryGetValue(name, out var v) ? v : null; }

    public int Int(string name, int fallback, int min = int.MinValue)
    {
        var s = String(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min)
            throw new UsageException($"--{name} {s}: expected a whole number{(min > int.MinValue ? $" of at least {min}" : "")}.");
        return v;
    }

    public float Float(string name, float fallback)
    {
        var s = String(name);
        if (s is null) return fallback;
        if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !float.IsFinite(v) || v < 0)
            throw new UsageException($"--{name} {s}: expected a non-negative number.");
        return v;
    }

    /// <summary>Fails on any option the command did not ask for (a typo must not be ignored).</summary>
    public void EnsureAllUsed()
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"unknown option{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown.Select(u => "--" + u))}; run 'densegen help'.");
    }
}
