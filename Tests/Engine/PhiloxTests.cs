using FerEngine.Random;

namespace FerEngine.Tests.Engine;

public class PhiloxTests
{
    // Known-answer vectors of Random123 (kat_vectors: philox4x32 10 rounds).
    [Theory]
    [InlineData(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u,
        0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
        0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u,
        0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Block_matches_Random123_known_answers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1,
        uint e0, uint e1, uint e2, uint e3)
    {
        ulong seed = k0 | (ulong)k1 << 32;
        ulong offset = c0 | (ulong)c1 << 32;
        ulong stream = c2 | (ulong)c3 << 32;
        Assert.Equal((e0, e1, e2, e3), Philox.Block(seed, stream, offset));
    }

    [Theory]
    [InlineData(0UL, 0UL, 0UL)]
    [InlineData(0x243f6a8885a308d3UL, 0x13198a2e03707344UL, 0xFFFF_FFFDUL)]   // the offsets carry into their high word
    public void Eight_blocks_at_once_are_the_eight_blocks(ulong seed, ulong stream, ulong offset)
    {
        var (x0, x1, x2, x3) = Philox.Blocks8(seed, stream, offset);
        for (int b = 0; b < 8; b++)
            Assert.Equal(Philox.Block(seed, stream, offset + (ulong)b), ((uint)x0[b], (uint)x1[b], (uint)x2[b], (uint)x3[b]));
    }

    [Fact]
    public void Uniform_is_inside_the_open_interval_and_roughly_uniform()
    {
        var values = new double[100_000];
        Philox.FillUniform(values, seed: 7, stream: 3, low: 0, high: 1);
        Assert.All(values, v => Assert.InRange(v, double.Epsilon, 1 - 1e-9));
        Assert.InRange(values.Average(), 0.49, 0.51);
    }

    [Fact]
    public void Normal_has_the_requested_moments()
    {
        var values = new double[100_000];
        Philox.FillNormal(values, seed: 1, stream: 2, mean: 3, std: 2);
        double mean = values.Average();
        double std = Math.Sqrt(values.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, 2.97, 3.03);
        Assert.InRange(std, 1.97, 2.03);
    }

    [Fact]
    public void Different_streams_give_different_numbers()
    {
        Assert.NotEqual(Philox.Word(5, 0, 0), Philox.Word(5, 1, 0));
        Assert.NotEqual(Philox.Word(5, 0, 0), Philox.Word(6, 0, 0));
    }

    [Fact]
    public void Dropout_keeps_about_one_minus_p()
    {
        int kept = 0;
        for (ulong i = 0; i < 100_000; i++) if (Philox.Keep(9, 4, i, 0.3)) kept++;
        Assert.InRange(kept / 100_000.0, 0.69, 0.71);
    }

    [Fact]
    public void The_drop_threshold_rounds_to_the_nearest_24_bit_word()
    {
        Assert.Equal(1677722u, Philox.DropThreshold(0.1));   // 0.1 * 2^24 = 1677721.6: rounded, not truncated
    }
}
