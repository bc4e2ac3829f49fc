using System.Buffers.Binary;

namespace FerEngine.Model.Data;

/// <summary>
/// Whether a JPEG or PNG file reaches its end marker. The decoder (stb_image) fills whatever is
/// missing from a truncated JPEG with grey, and decodes a PNG cut inside its last chunk, and reports
/// success: a download cut short would train as a face with its lower part blank. Each check walks
/// the format's structure rather than looking for the marker's bytes, which may also occur inside.
/// </summary>
public static class ImageEnd
{
    /// <summary>"JPEG" or "PNG" when the file is one and ends before its end marker; null otherwise.</summary>
    public static string? CutShortFormat(ReadOnlySpan<byte> file) =>
        IsJpeg(file) && !JpegReachesEnd(file) ? "JPEG"
        : IsPng(file) && !PngReachesEnd(file) ? "PNG"
        : null;

    public static bool IsJpeg(ReadOnlySpan<byte> file) => file.Length >= 2 && file[0] == 0xFF && file[1] == 0xD8;

    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static bool IsPng(ReadOnlySpan<byte> file) => file.StartsWith(PngSignature);

    /// <summary>
    /// After SOI (FF D8) come segments, each a marker FF xx and a two-byte big-endian length that
    /// counts itself; after a scan's header (SOS, FF DA) comes entropy-coded data, in which a data
    /// byte FF is always followed by 00 ("stuffed") or is a restart marker FF D0-D7. The first EOI
    /// (FF D9) outside a segment ends the image; one inside a segment (an EXIF thumbnail in APP1) is
    /// skipped with the segment.
    /// </summary>
    public static bool JpegReachesEnd(ReadOnlySpan<byte> jpeg)
    {
        int i = 2;   // after SOI
        while (i < jpeg.Length)
        {
            if (jpeg[i++] != 0xFF) continue;                           // entropy-coded data (or a stray byte, which decoders skip too)
            while (i < jpeg.Length && jpeg[i] == 0xFF) i++;            // fill bytes before a marker
            if (i >= jpeg.Length) return false;
            byte marker = jpeg[i++];
            if (marker == 0xD9) return true;                           // EOI
            if (marker is 0x00 or 0x01 or >= 0xD0 and <= 0xD8) continue;   // stuffed FF, TEM, a restart marker or SOI: no length
            if (i + 1 >= jpeg.Length) return false;
            i += (jpeg[i] << 8) | jpeg[i + 1];                         // the segment (for SOS, its header; the scan data follows)
        }
        return false;
    }

    /// <summary>
    /// After the 8-byte signature come chunks: a 4-byte big-endian data length, a 4-byte type, the
    /// data and a 4-byte CRC. The image ends with a whole IEND chunk.
    /// </summary>
    public static bool PngReachesEnd(ReadOnlySpan<byte> png)
    {
        long i = PngSignature.Length;
        while (i + 8 <= png.Length)
        {
            var chunk = png[(int)i..];
            uint length = BinaryPrimitives.ReadUInt32BigEndian(chunk);
            bool isEnd = chunk[4..8].SequenceEqual("IEND"u8);
            i += 12L + length;                                         // length, type, data, CRC
            if (isEnd) return i <= png.Length;
        }
        return false;
    }
}
