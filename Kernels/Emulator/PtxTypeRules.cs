namespace FerEngine.Kernels.Emulator;

/// <summary>
/// The PTX ISA's type rules that ptxas enforces and the parser enforces too, so that a kernel the
/// emulator runs is one ptxas assembles (PTX ISA 9.4 "Type Information for Instructions and Operands",
/// 9.4.1 "Operand Size Exceeding Instruction-Type Size", 9.3.1 "Comparisons", and cvt's description).
/// Each rule was checked against ptxas (CUDA 11.8) as well: it rejects every case refused here.
/// </summary>
internal static class PtxTypeRules
{
    private enum Kind { Bits, Signed, Unsigned, Float, Pred }

    private static Kind KindOf(PtxType t) => t switch
    {
        PtxType.B8 or PtxType.B16 or PtxType.B32 or PtxType.B64 => Kind.Bits,
        PtxType.S8 or PtxType.S16 or PtxType.S32 or PtxType.S64 => Kind.Signed,
        PtxType.U8 or PtxType.U16 or PtxType.U32 or PtxType.U64 => Kind.Unsigned,
        PtxType.F16 or PtxType.F32 or PtxType.F64 => Kind.Float,
        _ => Kind.Pred,
    };

    public static bool IsBits(PtxType t) => t != PtxType.None && KindOf(t) == Kind.Bits;

    /// <summary>ISA 6.4.1: "[reg] an integer or bit-size type register reg containing a byte address".</summary>
    public static bool HoldsAddress(PtxType t) => t != PtxType.None && KindOf(t) is Kind.Bits or Kind.Signed or Kind.Unsigned;

    /// <summary>
    /// Whether a register declared <paramref name="register"/> may stand where the instruction reads or
    /// writes a <paramref name="expected"/> value. ISA 9.4 (Table 26): a bit-size type agrees with any type of
    /// its size, signed and unsigned integers of one size agree, a float type agrees only with itself
    /// (and the bit type of its size); a predicate only with a predicate. <paramref name="relaxed"/>: the
    /// data operand of ld, st or cvt, which ISA 9.4.1 (Tables 27, 28) lets be wider than the instruction
    /// type for bit-size and integer instruction types, and for a float type only if the register is of
    /// a bit-size type.
    /// </summary>
    public static bool Agree(PtxType expected, PtxType register, bool relaxed)
    {
        Kind want = KindOf(expected), have = KindOf(register);
        if (want == Kind.Pred || have == Kind.Pred) return want == have;
        int wantSize = PtxParser.SizeOf(expected), haveSize = PtxParser.SizeOf(register);
        bool sizeFits = relaxed ? haveSize >= wantSize : haveSize == wantSize;
        if (!sizeFits) return false;
        return want switch
        {
            Kind.Bits => true,
            Kind.Signed or Kind.Unsigned => have != Kind.Float,
            _ => have == Kind.Bits || register == expected,     // Kind.Float
        };
    }

    /// <summary>
    /// Whether setp may compare <paramref name="type"/> values with <paramref name="compare"/>. ISA 9.3.1:
    /// bit-size types compare with eq and ne only; signed integers with eq, ne, lt, le, gt, ge; unsigned
    /// integers with those and lo, ls, hi, hs; floats with eq .. ge, the unordered equ .. geu, num and nan.
    /// </summary>
    public static bool ComparisonAllowed(PtxCompare compare, PtxType type)
    {
        bool equality = compare is PtxCompare.Eq or PtxCompare.Ne;
        bool ordered = compare is PtxCompare.Lt or PtxCompare.Le or PtxCompare.Gt or PtxCompare.Ge;
        bool unsignedOnly = compare is PtxCompare.Lo or PtxCompare.Ls or PtxCompare.Hi or PtxCompare.Hs;
        return KindOf(type) switch
        {
            Kind.Bits => equality,
            Kind.Signed => equality || ordered,
            Kind.Unsigned => equality || ordered || unsignedOnly,
            Kind.Float => !unsignedOnly,
            _ => false,
        };
    }

    /// <summary>The comparisons setp allows for <paramref name="type"/>, for an error message.</summary>
    public static string ComparisonsFor(PtxType type) => string.Join(", ",
        Enum.GetValues<PtxCompare>().Where(c => ComparisonAllowed(c, type)).Select(c => "." + c.ToString().ToLowerInvariant()));

    /// <summary>
    /// What is wrong with cvt's rounding modifier for a conversion from <paramref name="from"/> to
    /// <paramref name="to"/>, or null. ISA cvt: "Integer rounding is required for float-to-integer
    /// conversions, and for same-size float-to-float conversions where the value is rounded to an integer.
    /// Integer rounding is illegal in all other instances. Floating-point rounding is required for
    /// float-to-float conversions that result in loss of precision, and for integer-to-float conversions.
    /// Floating-point rounding is illegal in all other instances."
    /// </summary>
    public static string? CvtRoundingError(PtxType to, PtxType from, PtxRounding rounding)
    {
        bool fromFloat = KindOf(from) == Kind.Float, toFloat = KindOf(to) == Kind.Float;
        bool integerRounding = rounding is PtxRounding.Rni or PtxRounding.Rzi or PtxRounding.Rmi or PtxRounding.Rpi;
        bool floatRounding = rounding is PtxRounding.Rn or PtxRounding.Rz or PtxRounding.Rm or PtxRounding.Rp;
        bool narrowingFloat = fromFloat && toFloat && PtxParser.SizeOf(to) < PtxParser.SizeOf(from);
        bool sameSizeFloat = fromFloat && toFloat && PtxParser.SizeOf(to) == PtxParser.SizeOf(from);

        if (fromFloat && !toFloat)
            return integerRounding ? null : "float to integer needs an integer rounding modifier: .rni, .rzi, .rmi or .rpi";
        if (!fromFloat && toFloat)
            return floatRounding ? null : "integer to float needs a rounding modifier: .rn, .rz, .rm or .rp";
        if (narrowingFloat)
            return floatRounding ? null : "a float conversion that loses precision needs a rounding modifier: .rn, .rz, .rm or .rp";
        if (floatRounding)
            return "a rounding modifier (.rn, .rz, .rm, .rp) is allowed only where the conversion rounds (integer to float, or to a narrower float)";
        if (integerRounding && !sameSizeFloat)
            return "an integer rounding modifier (.rni, .rzi, .rmi, .rpi) is allowed only from a float to an integer or to a float of the same size";
        return null;
    }
}
