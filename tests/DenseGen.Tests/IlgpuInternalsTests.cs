using DenseGen.Execution;
using Xunit;

namespace DenseGen.Tests;

/// <summary>The private ILGPU members the text cache, the OpenCL barrier fix and kernel images rely on (<see cref="IlgpuInternals"/>).</summary>
public class IlgpuInternalsTests
{
    /// <summary>An ILGPU upgrade that renames one fails here, naming it, rather than in a user's first run.</summary>
    [Fact]
    public void This_ILGPU_has_every_private_member_DenseGen_replaces() => Assert.Empty(IlgpuInternals.Missing);

    [Fact]
    public void A_missing_member_is_named_with_what_to_update()
    {
        var error = Assert.Throws<System.MissingMemberException>(() => IlgpuInternals.Require<System.Reflection.FieldInfo>(null, "kernel images"));
        Assert.Contains("kernel images", error.Message);
        Assert.Contains("IlgpuInternals", error.Message);
    }
}
