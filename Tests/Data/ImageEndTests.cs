using FerEngine.Model.Data;
using StbImageSharp;

namespace FerEngine.Tests.Data;

public sealed class ImageEndTests : DataFixtures
{
    private static byte[] Image(string path, bool png = false) => File.ReadAllBytes(WriteImage(path, width: 40, height: 40, png: png));

    private static int[] Cuts(int length) => [4, 12, length / 2, length * 9 / 10, length - 2, length - 1];

    [Fact]
    public void A_whole_jpeg_reaches_its_end_and_every_cut_one_does_not()
    {
        byte[] jpeg = Image(PathOf("face.jpg"));
        Assert.True(ImageEnd.JpegReachesEnd(jpeg));
        Assert.True(ImageEnd.JpegReachesEnd([.. jpeg, 0x12, 0xFF, 0xDA, 0x00]));   // bytes after EOI (some cameras append data)
        foreach (int cut in Cuts(jpeg.Length))
            Assert.False(ImageEnd.JpegReachesEnd(jpeg.AsSpan(0, cut)), $"cut at {cut} of {jpeg.Length}");
    }

    [Fact]
    public void A_jpeg_end_marker_inside_a_segment_does_not_count()
    {
        byte[] jpeg = Image(PathOf("face.jpg"));
        byte[] app1 = [0xFF, 0xE1, 0x00, 0x08, (byte)'E', (byte)'x', 0xFF, 0xD9, 0xFF, 0xD9];   // a thumbnail's EOI, inside the segment
        byte[] withThumbnail = [.. jpeg[..2], .. app1, .. jpeg[2..]];
        Assert.True(ImageEnd.JpegReachesEnd(withThumbnail));
        Assert.False(ImageEnd.JpegReachesEnd(withThumbnail.AsSpan(0, withThumbnail.Length * 9 / 10)));
    }

    [Fact]
    public void A_whole_png_reaches_its_end_and_every_cut_one_does_not()
    {
        byte[] png = Image(PathOf("face.png"), png: true);
        Assert.True(ImageEnd.PngReachesEnd(png));
        foreach (int cut in Cuts(png.Length))
            Assert.False(ImageEnd.PngReachesEnd(png.AsSpan(0, cut)), $"cut at {cut} of {png.Length}");
    }

    [Theory]
    [InlineData("cut.jpg", "JPEG", 0.9)]
    [InlineData("cut.png", "PNG", 0.995)]
    public void A_truncated_image_that_the_decoder_accepts_is_refused_by_name(string name, string format, double kept)
    {
        byte[] whole = Image(PathOf("whole-" + name), png: format == "PNG");
        byte[] cut = whole[..(int)(whole.Length * kept)];
        Assert.Equal(40, ImageResult.FromMemory(cut, ColorComponents.RedGreenBlue).Width);   // stb decodes it and says nothing
        File.WriteAllBytes(PathOf(name), cut);
        var error = Assert.Throws<InvalidDataException>(() => ImageConversion.Load(PathOf(name), 1, 48, 48));
        Assert.Contains($"{name}: the {format} ends before its end marker", error.Message);
        Assert.Equal(48 * 48, ImageConversion.Load(PathOf("whole-" + name), 1, 48, 48).Length);
    }
}
