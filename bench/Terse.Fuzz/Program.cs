using Terse.Fuzz;

// terse-fuzz: coverage-guided fuzzing of Terse's parsers with SharpFuzz and AFL++ (docs/fuzzing.md).
//   Terse.Fuzz TARGET                  the harness under afl-fuzz (scripts/fuzz.sh instruments Terse.dll and starts it)
//   Terse.Fuzz TARGET --replay PATH…   runs files or folders once each and reports every input that escapes the harness
//   Terse.Fuzz seeds DIR               writes the generated seed inputs to DIR/TARGET/
//   Terse.Fuzz list                    the targets
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: Terse.Fuzz TARGET | TARGET --replay PATH… | seeds DIR | list");
    return 2;
}
if (args[0] == "list")
{
    foreach (var t in FuzzTargets.All)
        Console.WriteLine($"{t.Name,-18} {t.Description}");
    return 0;
}
if (args[0] == "seeds")
{
    foreach (var (target, name, bytes) in FuzzTargets.GeneratedSeeds())
    {
        var folder = Directory.CreateDirectory(Path.Combine(args[1], target));
        File.WriteAllBytes(Path.Combine(folder.FullName, name), bytes);
    }
    return 0;
}
var harness = FuzzTargets.Named(args[0]);
if (args.Length > 1 && args[1] == "--replay")
{
    int accepted = 0, rejected = 0, escaped = 0;
    var files = args[2..].SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories) : [p]).Order();
    foreach (var file in files)
    {
        try
        {
            if (FuzzTargets.Run(harness, File.ReadAllBytes(file)))
                accepted++;
            else
                rejected++;
        }
        catch (Exception e)
        {
            escaped++;
            Console.WriteLine($"{file}: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            Console.WriteLine(e.StackTrace?.Split('\n').FirstOrDefault()?.Trim());
        }
    }
    Console.WriteLine($"{harness.Name}: {accepted} accepted, {rejected} rejected, {escaped} escaped");
    return escaped == 0 ? 0 : 1;
}
SharpFuzz.Fuzzer.Run(stream =>
{
    var input = new MemoryStream();
    stream.CopyTo(input);
    FuzzTargets.Run(harness, input.ToArray());
});
return 0;
