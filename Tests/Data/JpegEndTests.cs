using FerEngine.Model.Data;
using StbImageSharp;

namespace FerEngine.Tests.Data;

public sealed class JpegEndTests : DataFixtures
{
    private static byte[] Jpeg(string path) => File.ReadAllBytes(WriteImage(path, width: 40, height: 40));

    [Fact]
    public void A_whole_jpeg_reaches_its_end_and_every_cut_one_does_not()
    {
        byte[] jpeg = Jpeg(PathOf("face.jpg"));
        Assert.True(JpegEnd.IsReached(jpeg));
        Assert.True(JpegEnd.IsReached([.. jpeg, 0x12, 0xFF, 0xDA, 0x00]));   // bytes after EOI (some cameras append data)
        foreach (int cut in new[] { 4, jpeg.Length / 2, jpeg.Length * 9 / 10, jpeg.Length - 2, jpeg.Length - 1 })
            Assert.False(JpegEnd.IsReached(jpeg.AsSpan(0, cut)), $"cut at {cut} of {jpeg.Length}");
    }

    [Fact]
    public void An_end_marker_inside_a_segment_does_not_count()
    {
        byte[] jpeg = Jpeg(PathOf("face.jpg"));
        byte[] app1 = [0xFF, 0xE1, 0x00, 0x08, (byte)'E', (byte)'x', 0xFF, 0xD9, 0xFF, 0xD9];   // a thumbnail's EOI, inside the segment
        byte[] withThumbnail = [.. jpeg[..2], .. app1, .. jpeg[2..]];
        Assert.True(JpegEnd.IsReached(withThumbnail));
        Assert.False(JpegEnd.IsReached(withThumbnail.AsSpan(0, withThumbnail.Length * 9 / 10)));
    }

    [Fact]
    public void A_truncated_jpeg_that_the_decoder_accepts_is_refused_by_name()
    {
        byte[] jpeg = Jpeg(PathOf("face.jpg"));
        byte[] cut = jpeg[..(jpeg.Length * 9 / 10)];
        Assert.Equal(40, ImageResult.FromMemory(cut, ColorComponents.RedGreenBlue).Width);   // stb fills the missing rows and says nothing
        string path = PathOf("cut.jpg");
        File.WriteAllBytes(path, cut);
        var error = Assert.Throws<InvalidDataException>(() => ImageConversion.Load(path, 1, 48, 48));
        Assert.Contains("cut.jpg: the JPEG ends before its end-of-image marker", error.Message);
        Assert.Equal(48 * 48, ImageConversion.Load(PathOf("face.jpg"), 1, 48, 48).Length);
    }
}
