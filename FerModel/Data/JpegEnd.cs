namespace FerEngine.Model.Data;

/// <summary>
/// Whether a JPEG file reaches its end-of-image marker. The decoder (stb_image) fills whatever is
/// missing from a truncated JPEG with grey and reports success, so a download cut short would train
/// as a face with its lower part blank. The walk follows the file's structure: after SOI (FF D8)
/// come segments, each a marker FF xx and a two-byte big-endian length that counts itself; after a
/// scan's header (SOS, FF DA) comes entropy-coded data, in which a data byte FF is always followed by
/// 00 ("stuffed") or is a restart marker FF D0-D7. The first EOI (FF D9) outside a segment ends the
/// image; one inside a segment (an EXIF thumbnail in APP1) is skipped with the segment.
/// </summary>
public static class JpegEnd
{
    public static bool IsJpeg(ReadOnlySpan<byte> file) => file.Length >= 2 && file[0] == 0xFF && file[1] == 0xD8;

    /// <summary>True when the JPEG's end-of-image marker comes before the file ends.</summary>
    public static bool IsReached(ReadOnlySpan<byte> jpeg)
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
}
