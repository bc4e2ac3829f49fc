namespace FerEngine.Kernels.Emulator;

/// <summary>The operations the emulator implements (the PTX subset our kernels use).</summary>
internal enum PtxOp : byte
{
    Mov, Ld, St, Cvt, Cvta, Add, Sub, Mul, MulHi, MulWide, Mad, MadWide, Fma, Div, Rem, Min, Max, Neg, Abs,
    And, Or, Xor, Not, Shl, Shr, Setp, Selp, Bra, Ret, Ex2, Lg2, Rcp, Sqrt, Rsqrt, Shfl, Bar, Atom, Red,
}

/// <summary>Operand / instruction types. Registers hold raw bits in a ulong; the type says how to read them.</summary>
internal enum PtxType : byte { None, B8, B16, B32, B64, U8, U16, U32, U64, S8, S16, S32, S64, F16, F32, F64, Pred }

internal enum PtxSpace : byte { Generic, Param, Global, Shared, Local }

internal enum PtxCompare : byte { Eq, Ne, Lt, Le, Gt, Ge, Lo, Ls, Hi, Hs, Equ, Neu, Ltu, Leu, Gtu, Geu, Num, Nan }

/// <summary>cvt rounding: .rn/.rz/.rm/.rp for float results, .rni/.rzi/.rmi/.rpi to an integral value.</summary>
internal enum PtxRounding : byte { Default, Rn, Rz, Rm, Rp, Rni, Rzi, Rmi, Rpi }

internal enum PtxShuffle : byte { Up, Down, Bfly, Idx }

internal enum PtxAtomic : byte { Add, Max, Min, Exch }

/// <summary>
/// One decoded instruction. Every register, immediate and special register is a slot index into
/// the thread's ulong register file (immediates live in constant slots filled once per thread), so
/// execution does no string work and no operand-kind branching.
/// </summary>
internal sealed class PtxInstruction
{
    public PtxOp Op;
    public PtxType Type;            // the instruction type (the destination type for cvt)
    public PtxType SourceType;      // cvt's source type
    public PtxSpace Space;
    public PtxCompare Compare;
    public PtxRounding Rounding;
    public PtxShuffle Shuffle;
    public PtxAtomic Atomic;
    public bool ToSpace;             // cvta.to.space (generic -> space) rather than cvta.space (space -> generic)
    public bool Approx;              // .approx variants (div, rcp, sqrt)
    public int Vector = 1;           // 1, 2 or 4 (.v2 / .v4)
    public int Predicate = -1;       // guard predicate slot, -1 when unguarded
    public bool PredicateNegated;    // @!p
    public int[] Destinations = [];  // register slots written
    public PtxType[] WrittenTypes = []; // per destination, the type a trace shows its value as (see PtxParser's Write)
    public int[] Sources = [];       // register / constant slots read
    public int AddressBase = -1;     // address register slot, -1 for a symbol or absolute address
    public long AddressOffset;       // constant byte offset (param offset, shared symbol offset, +imm)
    public int Target = -1;          // branch target instruction index
    public string Text = "";         // the source text, for traces and error messages only
    public string Location = "";     // file:line
    public string Comment = "";      // the // comment on the source line, for traces

    public override string ToString() => $"{Location}: {Text}";
}
