using System.Diagnostics;
using System.Runtime.InteropServices;
using Terse.IO;

namespace Terse.Tests.IO;

/// <summary>A test that needs root (making device nodes); skipped for other users.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
            Skip = "needs root (mknod) on Linux";
    }
}

/// <summary>
/// <see cref="AtomicFile"/> on every kind of target. Special files are made in a temporary folder
/// (a FIFO, a symbolic link, and as root device nodes with the numbers of /dev/null and /dev/full),
/// so the machine's own /dev is never touched.
/// </summary>
public sealed class OutputFileTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("terse-output-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MakeFifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    private static string TypeOf(string path)
    {
        var start = new ProcessStartInfo("stat", ["-c", "%F", path]) { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        string type = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return type;
    }

    private static void Run(string program, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments))!;
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    [Fact]
    public async Task AFifoIsWrittenThroughNotReplaced()
    {
        string fifo = PathOf("pipe");
        Assert.Equal(0, MakeFifo(fifo, Convert.ToUInt32("600", 8)));
        var reader = Task.Run(() => File.ReadAllBytes(fifo));
        AtomicFile.WriteAllBytes(fifo, [1, 2, 3]);
        Assert.Equal(new byte[] { 1, 2, 3 }, await reader.WaitAsync(TimeSpan.FromMinutes(1)));
        Assert.Equal("fifo", TypeOf(fifo));
        Assert.Single(Directory.GetFileSystemEntries(folder));
    }

    [Fact]
    public void ASymbolicLinkIsWrittenThroughAndStaysALink()
    {
        string target = PathOf("target.bin"), link = PathOf("link.bin");
        File.WriteAllBytes(target, [9]);
        File.CreateSymbolicLink(link, "target.bin");
        AtomicFile.WriteAllBytes(link, [4, 5]);
        Assert.Equal("target.bin", new FileInfo(link).LinkTarget);
        Assert.Equal(new byte[] { 4, 5 }, File.ReadAllBytes(target));

        // A dangling link creates its target, as a shell's redirection does.
        string dangling = PathOf("dangling");
        File.CreateSymbolicLink(dangling, "created.bin");
        AtomicFile.WriteAllBytes(dangling, [7]);
        Assert.Equal(new byte[] { 7 }, File.ReadAllBytes(PathOf("created.bin")));
        Assert.NotNull(new FileInfo(dangling).LinkTarget);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]   // Unix permissions
    public void AReplacedFileKeepsItsPermissions()
    {
        string target = PathOf("private.bin");
        File.WriteAllBytes(target, [1]);
        File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        AtomicFile.WriteAllBytes(target, [2]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(target));
        Assert.Equal(new byte[] { 2 }, File.ReadAllBytes(target));
    }

    [Fact]
    public void AMissingFolderIsAnErrorNamingThePathAndNothingIsCreated()
    {
        string target = PathOf("no/such/folder/out.bin");
        var e = Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.WriteAllBytes(target, [1]));
        Assert.Contains(target, e.Message);
        Assert.False(Directory.Exists(PathOf("no")));
        Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.CreateFolder(PathOf("no/model")));
        Assert.False(Directory.Exists(PathOf("no")));
        AtomicFile.CreateFolder(PathOf("model"));
        Assert.True(Directory.Exists(PathOf("model")));
        var folderError = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(PathOf("model"), [1]));
        Assert.Contains("folder", folderError.Message);
    }

    [RootFact]
    public void DevicesAreWrittenInPlaceNeverReplaced()
    {
        string nul = PathOf("null"), full = PathOf("full");
        Run("mknod", nul, "c", "1", "3");
        Run("mknod", full, "c", "1", "7");
        AtomicFile.WriteAllBytes(nul, [1, 2, 3]);
        Assert.Equal("character special file", TypeOf(nul));
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(full, [1, 2, 3]));
        Assert.Equal($"cannot write {full}: no space left on the device", e.Message);
        Assert.Equal("character special file", TypeOf(full));
        Assert.Equal(2, Directory.GetFileSystemEntries(folder).Length);
    }
}
