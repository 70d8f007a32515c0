using System.Runtime.InteropServices;

namespace Terse.IO;

/// <summary>
/// Writes an output file so that nothing already there is lost: a regular file is replaced
/// atomically (the data goes to a temporary file in the same folder, which is then renamed over the
/// target, with the target's permissions), so readers see either the old or the complete new
/// content. A symbolic link is written through (its final target is replaced, the link stays), and
/// a target that is not a regular file (a device such as /dev/null, a FIFO, a socket, or a
/// descriptor such as /dev/stdout) is written in place, never renamed over. The folder of the
/// target must exist: a missing one is an error, not created. Errors name the caller's path.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> data)
    {
        var bytes = data.ToArray();
        Write(path, stream => stream.Write(bytes));
    }

    public static void Write(string path, Action<Stream> writeContent)
    {
        if (string.IsNullOrEmpty(path))
            throw new ArgumentException("the output path is empty");
        var fullPath = Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
            throw new IOException($"cannot write {path}: it is a folder");
        var kind = FileKind.Of(fullPath);
        if (kind is FileKind.Kind.Special || (kind is FileKind.Kind.Regular && FileKind.NamesDescriptor(fullPath)))
        {
            WriteInPlace(path, fullPath, writeContent);
            return;
        }
        var target = FileKind.FinalTarget(fullPath);
        var folder = Path.GetDirectoryName(target) ?? ".";
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"cannot write {path}: the folder {folder} does not exist");
        var temporary = Path.Combine(folder, $".{Path.GetFileName(target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                writeContent(stream);
                stream.Flush(flushToDisk: true);
            }
            if (kind is FileKind.Kind.Regular)
                FileKind.CopyOwnerAndMode(target, temporary);
            File.Move(temporary, target, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(temporary); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (e is UnauthorizedAccessException or IOException)
                throw Named(path, e);
            throw;
        }
    }

    /// <summary>
    /// Creates an output folder (a model or run folder) unless it exists. Like a file's, its parent
    /// must exist: a mistyped path is an error, not a tree of new folders.
    /// </summary>
    public static void CreateFolder(string path)
    {
        var fullPath = Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
            return;
        if (File.Exists(fullPath))
            throw new IOException($"cannot create the folder {path}: a file has that name");
        var parent = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(fullPath));
        if (parent is not null && !Directory.Exists(parent))
            throw new DirectoryNotFoundException($"cannot create {path}: the folder {parent} does not exist");
        Directory.CreateDirectory(fullPath);
    }

    /// <summary>Devices, FIFOs and descriptors cannot be replaced, only written: open the existing one.</summary>
    private static void WriteInPlace(string path, string fullPath, Action<Stream> writeContent)
    {
        try
        {
            using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1 << 16);
            writeContent(stream);
            stream.Flush();
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw Named(path, e);
        }
    }

    /// <summary>The runtime's messages name the temporary file or no file at all: name the caller's path and keep the reason.</summary>
    private static IOException Named(string path, Exception e)
    {
        if (e.Message.StartsWith("cannot ", StringComparison.Ordinal))
            return e as IOException ?? new IOException(e.Message, e);
        string reason = e switch
        {
            UnauthorizedAccessException => "permission denied",
            DirectoryNotFoundException => "its folder does not exist",
            _ when e.HResult == 28 => "no space left on the device", // ENOSPC
            _ => e.Message.Split(" : '")[0].Split(" '")[0].TrimEnd('.', ' '),
        };
        return new IOException($"cannot write {path}: {reason}", e);
    }
}

/// <summary>What a path names, from Linux's <c>statx</c> (whose layout is the same on every architecture).</summary>
internal static class FileKind
{
    public enum Kind { Missing, Regular, Special }

    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8, StatxGid = 0x10;
    private const int TypeMask = 0xF000, Regular = 0x8000, Directory = 0x4000;

    [StructLayout(LayoutKind.Sequential, Size = 256)]
    private struct Statx
    {
        public uint Mask;
        public uint BlockSize;
        public ulong Attributes;
        public uint Links;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int NativeStatx(int directory, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, out Statx result);

    [DllImport("libc", EntryPoint = "chown", SetLastError = true)]
    private static extern int NativeChown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group);

    /// <summary>The kind of the file <paramref name="path"/> leads to, symbolic links followed.</summary>
    public static Kind Of(string path)
    {
        if (!OperatingSystem.IsLinux())
            return File.Exists(path) ? Kind.Regular : Kind.Missing;
        if (!TryStat(path, out var status))
            return Kind.Missing;
        int type = status.Mode & TypeMask;
        return type is Regular or Directory ? Kind.Regular : Kind.Special;
    }

    /// <summary>
    /// True when a link on the way to <paramref name="path"/> goes through /proc (as /dev/stdout and
    /// /dev/fd/N do): the path names an open descriptor, which must be written, not renamed over,
    /// even when it is a regular file.
    /// </summary>
    public static bool NamesDescriptor(string path)
    {
        for (int hop = 0; hop < 40; hop++)
        {
            if (path.StartsWith("/proc/", StringComparison.Ordinal))
                return true;
            if (LinkTarget(path) is not { } next)
                return false;
            path = next;
        }
        return false;
    }

    /// <summary>The file at the end of the chain of symbolic links starting at <paramref name="path"/> (itself when it is not a link; the missing target of a dangling link).</summary>
    public static string FinalTarget(string path)
    {
        for (int hop = 0; hop < 40; hop++)
        {
            if (LinkTarget(path) is not { } next)
                return path;
            path = next;
        }
        throw new IOException($"too many levels of symbolic links at {path}");
    }

    /// <summary>Gives the replacement the permissions (and, where allowed, the owner) of the file it replaces.</summary>
    public static void CopyOwnerAndMode(string original, string replacement)
    {
        if (OperatingSystem.IsWindows())
            return;
        File.SetUnixFileMode(replacement, File.GetUnixFileMode(original));
        if (OperatingSystem.IsLinux() && TryStat(original, out var was) && TryStat(replacement, out var now) && (was.Uid != now.Uid || was.Gid != now.Gid))
            _ = NativeChown(replacement, was.Uid, was.Gid); // only root may give a file away; others keep their own
    }

    private static string? LinkTarget(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not { } target)
            return null;
        return Path.GetFullPath(target, Path.GetDirectoryName(path) ?? "/");
    }

    private static bool TryStat(string path, out Statx status)
    {
        try
        {
            return NativeStatx(AtFdCwd, path, 0, StatxType | StatxMode | StatxUid | StatxGid, out status) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            status = new Statx { Mode = Regular };
            return File.Exists(path);
        }
    }
}
