using StbImageSharp;

namespace FerEngine.Model.Data;

/// <summary>
/// Decoding (StbImageSharp: JPEG, PNG, BMP, ...), colour conversion and resizing to the network's
/// input: C x H x W bytes, channel-major.
/// </summary>
public static class ImageConversion
{
    /// <summary>Decodes an image file and converts it; throws InvalidDataException for a corrupt or truncated file.</summary>
    public static byte[] Load(string path, int channels, int height, int width)
    {
        ImageResult image;
        var file = new FileInfo(path);
        if (file.LinkTarget is not null) file = FinalTarget(path, file);   // a link's own length is its target's name
        if (file.Length == 0)   // also what a FIFO or a device reports: opening one could wait forever
            throw new InvalidDataException($"{path}: the file is empty (or not a regular file).");
        byte[] bytes = File.ReadAllBytes(path);
        if (ImageEnd.CutShortFormat(bytes) is { } format)
            throw new InvalidDataException($"{path}: the {format} ends before its end marker: the file is truncated (an interrupted download or copy?).");
        try
        {
            image = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not IOException and not UnauthorizedAccessException)
        {
            string reason = new(e.Message.Where(c => !char.IsControl(c)).ToArray());   // the decoder's messages may hold NUL bytes
            if (string.IsNullOrWhiteSpace(reason)) reason = "the decoder gives no reason: truncated, or not an image";
            throw new InvalidDataException($"{path}: cannot decode the image ({reason}).");
        }
        if (image.Width <= 0 || image.Height <= 0 || image.Data.Length < image.Width * image.Height * 3)
            throw new InvalidDataException($"{path}: the image is empty or truncated.");
        return Convert(image.Data, image.Height, image.Width, channels, height, width);
    }

    private static FileInfo FinalTarget(string path, FileInfo link)
    {
        try { return link.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? link; }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new InvalidDataException($"{path}: the link leads to no file (a loop of links, or too many links in a row).", e);
        }
    }

    /// <summary>
    /// RGB bytes (height x width x 3, interleaved) -> channels x outHeight x outWidth. One channel is
    /// grey by ITU-R BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B; three keep R, G, B.
    /// </summary>
    public static byte[] Convert(byte[] rgb, int height, int width, int channels, int outHeight, int outWidth)
    {
        var planes = new List<float[]>();
        if (channels == 1)
        {
            var grey = new float[height * width];
            for (int i = 0; i < grey.Length; i++)
                grey[i] = 0.299f * rgb[3 * i] + 0.587f * rgb[3 * i + 1] + 0.114f * rgb[3 * i + 2];
            planes.Add(grey);
        }
        else if (channels == 3)
        {
            for (int c = 0; c < 3; c++)
            {
                var plane = new float[height * width];
                for (int i = 0; i < plane.Length; i++) plane[i] = rgb[3 * i + c];
                planes.Add(plane);
            }
        }
        else throw new ArgumentException($"images convert to 1 (grey) or 3 (RGB) channels, not {channels}.");

        var result = new byte[channels * outHeight * outWidth];
        for (int c = 0; c < channels; c++)
        {
            var resized = Resize(planes[c], height, width, outHeight, outWidth);
            for (int i = 0; i < resized.Length; i++)
                result[c * outHeight * outWidth + i] = (byte)Math.Clamp(MathF.Round(resized[i]), 0, 255);
        }
        return result;
    }

    /// <summary>Grey bytes -> channels copies (a grey dataset fed to a colour network), resized.</summary>
    public static byte[] FromGrey(byte[] grey, int height, int width, int channels, int outHeight, int outWidth)
    {
        if (channels == 1 && height == outHeight && width == outWidth) return (byte[])grey.Clone();
        var rgb = new byte[grey.Length * 3];
        for (int i = 0; i < grey.Length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i];
        return Convert(rgb, height, width, channels, outHeight, outWidth);
    }

    /// <summary>Separable resize: each axis area-averages when it shrinks and interpolates bilinearly when it grows.</summary>
    public static float[] Resize(float[] plane, int height, int width, int outHeight, int outWidth)
    {
        if (height == outHeight && width == outWidth) return (float[])plane.Clone();
        var rows = new float[height * outWidth];
        for (int y = 0; y < height; y++)
            Resample(plane.AsSpan(y * width, width), 1, rows.AsSpan(y * outWidth, outWidth), 1, width, outWidth);
        var result = new float[outHeight * outWidth];
        for (int x = 0; x < outWidth; x++)
            Resample(rows.AsSpan(x), outWidth, result.AsSpan(x), outWidth, height, outHeight);
        return result;
    }

    /// <summary>One line of n samples (every stride-th element) to m samples.</summary>
    private static void Resample(ReadOnlySpan<float> source, int sourceStride, Span<float> destination, int destinationStride, int n, int m)
    {
        double scale = (double)n / m;
        for (int i = 0; i < m; i++)
        {
            double value;
            if (m < n)
            {
                // Area: average of source cells covering [i * scale, (i + 1) * scale), partial cells weighted.
                double start = i * scale, end = start + scale, sum = 0;
                for (int k = (int)start; k < Math.Min(n, (int)Math.Ceiling(end)); k++)
                    sum += source[k * sourceStride] * (Math.Min(end, k + 1) - Math.Max(start, k));
                value = sum / scale;
            }
            else
            {
                // Bilinear with pixel centres aligned (as PyTorch's align_corners=False), clamped at the edges.
                double position = Math.Clamp((i + 0.5) * scale - 0.5, 0, n - 1);
                int left = (int)position, right = Math.Min(left + 1, n - 1);
                double t = position - left;
                value = source[left * sourceStride] * (1 - t) + source[right * sourceStride] * t;
            }
            destination[i * destinationStride] = (float)value;
        }
    }
}
