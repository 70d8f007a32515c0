using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Terse.IO;

namespace Terse.Tests.IO;

public class BinaryHelpersTests
{
    [Fact]
    public void Crc32CMatchesTheStandardCheckValue() =>
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));

    [Fact]
    public void Crc32CAppendEqualsWholeComputation()
    {
        var data = Encoding.UTF8.GetBytes("the quick brown fox jumps over the lazy dog, twice or thrice");
        for (int split = 0; split <= data.Length; split++)
            Assert.Equal(Crc32C.Compute(data), Crc32C.Append(Crc32C.Compute(data.AsSpan(0, split)), data.AsSpan(split)));
    }

    [Fact]
    public void VarIntRoundTripsAnyValue() =>
        Prop.ForAll<ulong>(value =>
        {
            var buffer = new byte[10];
            int length = VarInt.Encode(value, buffer);
            int position = 0;
            return VarInt.Read(buffer.AsSpan(0, length), ref position) == value && position == length;
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void VarIntRejectsTruncationAndOverflow()
    {
        int position = 0;
        Assert.Throws<InvalidDataException>(() => VarInt.Read(new byte[] { 0x80, 0x80 }, ref position));
        position = 0;
        Assert.Throws<InvalidDataException>(() => VarInt.Read(Enumerable.Repeat((byte)0xFF, 11).ToArray(), ref position));
        position = 0;
        var ex = Assert.Throws<InvalidDataException>(() => VarInt.ReadBounded(new byte[] { 0xFF, 0x7F }, ref position, 1000, "entry count"));
        Assert.Contains("entry count", ex.Message);
    }

    [Fact]
    public void AtomicWriteReplacesContentAndLeavesNoTemporaryFiles()
    {
        var folder = Directory.CreateTempSubdirectory("terse-atomic-");
        try
        {
            var target = System.IO.Path.Combine(folder.FullName, "out.bin");
            AtomicFile.WriteAllBytes(target, new byte[] { 1, 2, 3 });
            AtomicFile.WriteAllBytes(target, new byte[] { 4, 5 });
            Assert.Equal(new byte[] { 4, 5 }, File.ReadAllBytes(target));
            Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(target, _ => throw new InvalidOperationException("fail mid-write")));
            Assert.Equal(new byte[] { 4, 5 }, File.ReadAllBytes(target));
            Assert.Single(Directory.GetFiles(folder.FullName));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
