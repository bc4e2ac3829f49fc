using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace FerEngine.Kernels.Emulator;

/// <summary>One .param of an entry: its name, type, byte offset in the parameter buffer and size.</summary>
public sealed record PtxParameter(string Name, string Type, int Offset, int Size);

/// <summary>One .shared or .local array of an entry: its name, byte offset in its state space and size.</summary>
public sealed record PtxSymbol(string Name, int Offset, int Size);

/// <summary>
/// One .entry, decoded: the instruction array, the register-file layout (special registers, then
/// constant slots holding every immediate, then the declared registers), parameter layout and the
/// per-block shared and per-thread local memory sizes.
/// </summary>
public sealed class PtxKernel
{
    // Fixed slots of the special registers, filled per thread at launch.
    internal const int TidX = 0, TidY = 1, TidZ = 2, NtidX = 3, NtidY = 4, NtidZ = 5, CtaidX = 6, CtaidY = 7, CtaidZ = 8,
        NctaidX = 9, NctaidY = 10, NctaidZ = 11, LaneId = 12, WarpId = 13, SpecialCount = 14;

    public required string Name { get; init; }
    public required string FileName { get; init; }
    public required IReadOnlyList<PtxParameter> Parameters { get; init; }
    public int ParameterBytes { get; init; }
    public int SharedBytes { get; init; }
    public int LocalBytes { get; init; }
    public int InstructionCount => Instructions.Length;
    internal PtxInstruction[] Instructions { get; init; } = [];
    internal int RegisterCount { get; init; }       // slots in a thread's register file
    internal (int Slot, ulong Value)[] Constants { get; init; } = [];
    internal string[] SlotNames { get; init; } = [];     // for traces
    internal PtxType[] SlotTypes { get; init; } = [];    // each register's declared type (special registers .u32; constants None)
    internal PtxSymbol[] SharedSymbols { get; init; } = [];
    internal int LongestLocation { get; init; }          // the widest "File.ptx:NNN" and instruction text, for trace columns
    internal int LongestText { get; init; }

    /// <summary>A .shared byte offset as the kernel names it, "partials+4" ("partials+0" for the first byte); null between arrays (alignment padding).</summary>
    internal string? SharedName(long offset)
    {
        foreach (var symbol in SharedSymbols)
            if (offset >= symbol.Offset && offset < symbol.Offset + symbol.Size)
                return $"{symbol.Name}+{offset - symbol.Offset}";
        return null;
    }
}

/// <summary>A parsed .ptx module: its entries by name.</summary>
public sealed class PtxModule
{
    public required string FileName { get; init; }
    public required IReadOnlyDictionary<string, PtxKernel> Kernels { get; init; }

    public PtxKernel this[string name] => Kernels.TryGetValue(name, out var k) ? k
        : throw new PtxEmulatorException($"{FileName} has no .entry {name}; it has {string.Join(", ", Kernels.Keys)}.");
}

/// <summary>
/// Parses PTX text once into compact decoded instructions (see <see cref="PtxInstruction"/>). Any
/// directive or instruction outside the supported subset is an error naming file:line.
/// </summary>
public static class PtxParser
{
    /// <summary>
    /// Where generic addresses of shared memory start (cvta.shared). The emulator's address map: global
    /// allocations from 0x7f00_0000_0000 (<see cref="EmulatedMemory"/>), below this window; shared memory
    /// here; each thread's local memory from 0x0002_0000_0000_0000 (PtxInterpreter's LocalWindow).
    /// </summary>
    internal const ulong SharedWindow = 0x0001_0000_0000_0000;

    private readonly record struct Statement(string Text, int Line);

    public static PtxModule Parse(string text, string fileName)
    {
        var kernels = new Dictionary<string, PtxKernel>();
        var comments = new Dictionary<int, string>();
        var statements = Split(StripComments(text, comments));
        for (int i = 0; i < statements.Count; i++)
        {
            var s = statements[i];
            if (s.Text.StartsWith(".version") || s.Text.StartsWith(".target") || s.Text.StartsWith(".address_size")) continue;
            if (s.Text.Contains(".entry"))
            {
                if (i + 1 >= statements.Count || statements[i + 1].Text != "{")
                    throw Error(fileName, s.Line, "an .entry must be followed by its body in { }");
                int end = i + 2;
                while (end < statements.Count && statements[end].Text != "}") end++;
                if (end == statements.Count) throw Error(fileName, s.Line, "the .entry body has no closing }");
                var kernel = new EntryBuilder(fileName, comments).Build(s, statements.GetRange(i + 2, end - i - 2));
                kernels.Add(kernel.Name, kernel);
                i = end;
                continue;
            }
            throw Error(fileName, s.Line, $"unsupported module-level statement '{s.Text}'");
        }
        return new PtxModule { FileName = fileName, Kernels = kernels };
    }

    internal static PtxEmulatorException Error(string file, int line, string message) => new($"{file}:{line}: {message}");

    /// <summary>
    /// The text without comments (line breaks kept, so line numbers stay), and each line's // comment
    /// in <paramref name="comments"/> by line number: a trace prints it beside the instruction.
    /// </summary>
    private static string StripComments(string text, Dictionary<int, string> comments)
    {
        var sb = new StringBuilder(text.Length);
        int line = 1;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n') line++;
            if (text[i] == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                int start = i + 2;
                while (i < text.Length && text[i] != '\n') i++;
                string comment = text[start..i].Trim();
                if (comment.Length > 0) comments[line] = comment;
                if (i < text.Length) { sb.Append('\n'); line++; }
            }
            else if (text[i] == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                i += 2;
                while (i + 1 < text.Length && !(text[i] == '*' && text[i + 1] == '/')) { if (text[i] == '\n') { sb.Append('\n'); line++; } i++; }
                i++;
            }
            else sb.Append(text[i]);
        }
        return sb.ToString();
    }

    /// <summary>Statements end at ';'; '{' and '}' outside an operand are their own statements; "name:" is a label.</summary>
    private static List<Statement> Split(string text)
    {
        var result = new List<Statement>();
        var current = new StringBuilder();
        int line = 1, startLine = 1, operandBraces = 0;
        void Emit(string t, int at) { if (t.Length > 0) result.Add(new Statement(t, at)); }
        foreach (char c in text)
        {
            if (current.Length == 0 || current.ToString().Trim().Length == 0) startLine = line;
            if (c == '\n') line++;
            string trimmed = current.ToString().Trim();
            switch (c)
            {
                case '\n' when trimmed.StartsWith(".version") || trimmed.StartsWith(".target") || trimmed.StartsWith(".address_size"):
                    Emit(trimmed, startLine); current.Clear(); break; // these directives end at the line end, without ';'
                case ';' when operandBraces == 0:
                    Emit(trimmed, startLine); current.Clear(); break;
                case '{' when trimmed.Length == 0 || trimmed.Contains(".entry"):
                    Emit(trimmed, startLine); Emit("{", line); current.Clear(); break;
                case '{':
                    operandBraces++; current.Append(c); break;
                case '}' when operandBraces > 0:
                    operandBraces--; current.Append(c); break;
                case '}':
                    Emit(trimmed, startLine); Emit("}", line); current.Clear(); break;
                case ':' when operandBraces == 0 && Regex.IsMatch(trimmed, @"^[$%\w]+$"):
                    Emit(trimmed + ":", startLine); current.Clear(); break;
                default:
                    current.Append(c == '\n' || c == '\t' || c == '\r' ? ' ' : c); break;
            }
        }
        if (current.ToString().Trim().Length > 0) throw new PtxEmulatorException($"line {startLine}: statement without ';': {current.ToString().Trim()}");
        return result;
    }

    internal static int SizeOf(PtxType t) => t switch
    {
        PtxType.B8 or PtxType.U8 or PtxType.S8 => 1,
        PtxType.B16 or PtxType.U16 or PtxType.S16 or PtxType.F16 => 2,
        PtxType.B32 or PtxType.U32 or PtxType.S32 or PtxType.F32 => 4,
        PtxType.B64 or PtxType.U64 or PtxType.S64 or PtxType.F64 => 8,
        PtxType.Pred => 1,
        _ => 0,
    };

    internal static PtxType? TypeOf(string name) => name switch
    {
        "b8" => PtxType.B8, "b16" => PtxType.B16, "b32" => PtxType.B32, "b64" => PtxType.B64,
        "u8" => PtxType.U8, "u16" => PtxType.U16, "u32" => PtxType.U32, "u64" => PtxType.U64,
        "s8" => PtxType.S8, "s16" => PtxType.S16, "s32" => PtxType.S32, "s64" => PtxType.S64,
        "f16" => PtxType.F16, "f32" => PtxType.F32, "f64" => PtxType.F64, "pred" => PtxType.Pred,
        _ => null,
    };

    /// <summary>Decodes the statements of one entry body.</summary>
    private sealed class EntryBuilder(string file, IReadOnlyDictionary<int, string> comments)
    {
        private readonly Dictionary<string, int> registers = new();
        private readonly List<string> slotNames = [];
        private readonly List<PtxType> slotTypes = [];       // declared type per slot (None for a constant)
        private readonly List<PtxSymbol> sharedSymbols = [];
        private readonly Dictionary<ulong, int> constantSlots = new();
        private readonly List<(int, ulong)> constants = [];
        private readonly Dictionary<string, PtxParameter> parameters = new();
        private readonly Dictionary<string, (PtxSpace Space, int Offset)> symbols = new();
        private readonly Dictionary<string, int> labels = new();
        private readonly List<(PtxInstruction Instruction, string Label, int Line)> pendingBranches = [];
        private int sharedBytes, localBytes, line;

        private static readonly string[] SpecialNames =
            ["%tid.x", "%tid.y", "%tid.z", "%ntid.x", "%ntid.y", "%ntid.z", "%ctaid.x", "%ctaid.y", "%ctaid.z",
             "%nctaid.x", "%nctaid.y", "%nctaid.z", "%laneid", "%warpid"];

        public PtxKernel Build(Statement header, List<Statement> body)
        {
            line = header.Line;
            foreach (var special in SpecialNames) { slotNames.Add(special); slotTypes.Add(PtxType.U32); }   // all .u32 (PTX ISA 10, special registers)
            var m = Regex.Match(header.Text, @"\.entry\s+([\w$]+)\s*\((.*)\)", RegexOptions.Singleline);
            if (!m.Success) m = Regex.Match(header.Text, @"\.entry\s+([\w$]+)()");
            if (!m.Success) throw Error(file, line, $"cannot read the .entry header '{header.Text}'");
            string name = m.Groups[1].Value;
            var parameterList = new List<PtxParameter>();
            int offset = 0;
            foreach (var p in m.Groups[2].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var pm = Regex.Match(p, @"^\.param\s+(?:\.align\s+(\d+)\s+)?\.(\w+)\s+([\w$]+)(?:\[(\d+)\])?$");
                if (!pm.Success) throw Error(file, line, $"cannot read the parameter '{p}'");
                var type = TypeOf(pm.Groups[2].Value) ?? throw Error(file, line, $"unknown parameter type in '{p}'");
                int size = SizeOf(type) * (pm.Groups[4].Success ? int.Parse(pm.Groups[4].Value) : 1);
                int align = pm.Groups[1].Success ? int.Parse(pm.Groups[1].Value) : SizeOf(type);
                offset = (offset + align - 1) / align * align;
                var parameter = new PtxParameter(pm.Groups[3].Value, pm.Groups[2].Value, offset, size);
                parameterList.Add(parameter);
                parameters[parameter.Name] = parameter;
                offset += size;
            }

            var instructions = new List<PtxInstruction>();
            foreach (var s in body)
            {
                line = s.Line;
                if (s.Text.EndsWith(':')) { labels[s.Text[..^1]] = instructions.Count; continue; }
                if (s.Text.StartsWith(".reg")) { DeclareRegisters(s.Text); continue; }
                if (s.Text.StartsWith(".shared") || s.Text.StartsWith(".local")) { DeclareArray(s.Text); continue; }
                if (s.Text.StartsWith('.')) throw Error(file, line, $"unsupported directive '{s.Text}'");
                instructions.Add(Decode(s.Text));
            }
            foreach (var (instruction, label, at) in pendingBranches)
                instruction.Target = labels.TryGetValue(label, out int target) ? target
                    : throw Error(file, at, $"branch to an unknown label '{label}'");
            return new PtxKernel
            {
                Name = name, FileName = file, Parameters = parameterList, ParameterBytes = offset,
                SharedBytes = sharedBytes, LocalBytes = localBytes, Instructions = [.. instructions],
                RegisterCount = slotNames.Count, Constants = [.. constants], SlotNames = [.. slotNames],
                SlotTypes = [.. slotTypes], SharedSymbols = [.. sharedSymbols],
                LongestLocation = instructions.Select(i => i.Location.Length).DefaultIfEmpty(0).Max(),
                LongestText = instructions.Select(i => i.Text.Length).DefaultIfEmpty(0).Max(),
            };
        }

        private void DeclareRegisters(string text)
        {
            // .reg .f32 %f<12>;   .reg .b32 %r1, %r2;
            var m = Regex.Match(text, @"^\.reg\s+(?:\.v\d\s+)?\.(\w+)\s+(.+)$");
            var type = m.Success ? TypeOf(m.Groups[1].Value) : null;
            if (type is null) throw Error(file, line, $"cannot read '{text}'");
            foreach (var item in m.Groups[2].Value.Split(',', StringSplitOptions.TrimEntries))
            {
                var range = Regex.Match(item, @"^([%\w$]+)<(\d+)>$");
                if (range.Success)
                    for (int i = 0; i < int.Parse(range.Groups[2].Value); i++) AddRegister(range.Groups[1].Value + i, type.Value);
                else if (Regex.IsMatch(item, @"^[%\w$]+$")) AddRegister(item, type.Value);
                else throw Error(file, line, $"cannot read the register '{item}'");
            }
        }

        private void AddRegister(string name, PtxType type)
        {
            if (registers.ContainsKey(name)) throw Error(file, line, $"register {name} is declared twice");
            registers[name] = slotNames.Count;
            slotNames.Add(name);
            slotTypes.Add(type);
        }

        private void DeclareArray(string text)
        {
            // .shared .align 4 .b8 name[N];   .shared .f32 name[N];   .local .align 8 .b8 name[N];
            var m = Regex.Match(text, @"^\.(shared|local)\s+(?:\.align\s+(\d+)\s+)?\.(\w+)\s+([\w$]+)(?:\[(\d+)\])?$");
            var type = m.Success ? TypeOf(m.Groups[3].Value) : null;
            if (type is null) throw Error(file, line, $"cannot read '{text}'");
            int size = SizeOf(type.Value) * (m.Groups[5].Success ? int.Parse(m.Groups[5].Value) : 1);
            int align = m.Groups[2].Success ? int.Parse(m.Groups[2].Value) : SizeOf(type.Value);
            bool shared = m.Groups[1].Value == "shared";
            ref int used = ref shared ? ref sharedBytes : ref localBytes;
            used = (used + align - 1) / align * align;
            symbols[m.Groups[4].Value] = (shared ? PtxSpace.Shared : PtxSpace.Local, used);
            if (shared) sharedSymbols.Add(new PtxSymbol(m.Groups[4].Value, used, size));
            used += size;
        }

        private int Constant(ulong value)
        {
            if (constantSlots.TryGetValue(value, out int slot)) return slot;
            slot = slotNames.Count;
            slotNames.Add($"0x{value:x}");
            slotTypes.Add(PtxType.None);
            constantSlots[value] = slot;
            constants.Add((slot, value));
            return slot;
        }

        private PtxInstruction Decode(string text)
        {
            var instruction = new PtxInstruction
            {
                Text = text, Location = $"{file}:{line}", Comment = comments.TryGetValue(line, out var comment) ? comment : "",
            };
            string rest = text;
            if (rest.StartsWith('@'))
            {
                int space = rest.IndexOf(' ');
                string guard = rest[1..space];
                instruction.PredicateNegated = guard.StartsWith('!');
                instruction.Predicate = Guard(instruction, guard.TrimStart('!'));
                rest = rest[(space + 1)..].TrimStart();
            }
            int split = rest.IndexOf(' ');
            string mnemonic = split < 0 ? rest : rest[..split];
            var operands = split < 0 ? [] : SplitOperands(rest[(split + 1)..]);
            DecodeMnemonic(instruction, mnemonic);
            AssignOperands(instruction, mnemonic, operands);
            return instruction;
        }

        private void DecodeMnemonic(PtxInstruction ins, string mnemonic)
        {
            var parts = mnemonic.Split('.');
            bool hi = false, wide = false, typeSeen = false;
            foreach (var part in parts.Skip(1))
            {
                if (TypeOf(part) is { } t)
                {
                    if (!typeSeen) { ins.Type = t; typeSeen = true; } else ins.SourceType = t;
                    continue;
                }
                // setp's comparison first: .lo and .hi would otherwise be read as mul's halves.
                if (parts[0] == "setp" && !int.TryParse(part, out _) && Enum.TryParse<PtxCompare>(part, ignoreCase: true, out var compare))
                {
                    ins.Compare = compare;
                    continue;
                }
                switch (part)
                {
                    case "param": ins.Space = PtxSpace.Param; break;
                    case "global": ins.Space = PtxSpace.Global; break;
                    case "shared": ins.Space = PtxSpace.Shared; break;
                    case "local": ins.Space = PtxSpace.Local; break;
                    case "v2": ins.Vector = 2; break;
                    case "v4": ins.Vector = 4; break;
                    case "rn": ins.Rounding = PtxRounding.Rn; break;
                    case "rz": ins.Rounding = PtxRounding.Rz; break;
                    case "rm": ins.Rounding = PtxRounding.Rm; break;
                    case "rp": ins.Rounding = PtxRounding.Rp; break;
                    case "rni": ins.Rounding = PtxRounding.Rni; break;
                    case "rzi": ins.Rounding = PtxRounding.Rzi; break;
                    case "rmi": ins.Rounding = PtxRounding.Rmi; break;
                    case "rpi": ins.Rounding = PtxRounding.Rpi; break;
                    case "approx": ins.Approx = true; break;
                    case "lo": break;   // mul.lo / mad.lo: the default low half
                    case "hi": hi = true; break;
                    case "wide": wide = true; break;
                    case "up": ins.Shuffle = PtxShuffle.Up; break;
                    case "down": ins.Shuffle = PtxShuffle.Down; break;
                    case "bfly": ins.Shuffle = PtxShuffle.Bfly; break;
                    case "idx": ins.Shuffle = PtxShuffle.Idx; break;
                    case "add" when parts[0] is "atom" or "red": ins.Atomic = PtxAtomic.Add; break;
                    case "max" when parts[0] is "atom" or "red": ins.Atomic = PtxAtomic.Max; break;
                    case "min" when parts[0] is "atom" or "red": ins.Atomic = PtxAtomic.Min; break;
                    case "exch" when parts[0] is "atom": ins.Atomic = PtxAtomic.Exch; break;
                    // accepted and without effect here: flush-to-zero is not modelled (our kernels do not use it),
                    // cache hints, memory-ordering qualifiers (the emulator is sequentially consistent), .uni, .sync, .to
                    case "ftz" or "full" or "uni" or "sync" or "aligned" or "nc" or "ca" or "cg" or "cs" or "lu" or "cv"
                        or "volatile" or "relaxed" or "gpu" or "cta" or "sys" or "to": break;
                    default:
                        throw Error(file, line, $"unsupported instruction '{mnemonic}' (modifier .{part})");
                }
            }
            ins.Op = parts[0] switch
            {
                "mov" => PtxOp.Mov, "ld" => PtxOp.Ld, "st" => PtxOp.St, "cvt" => PtxOp.Cvt, "cvta" => PtxOp.Cvta,
                "add" => PtxOp.Add, "sub" => PtxOp.Sub,
                "mul" => hi ? PtxOp.MulHi : wide ? PtxOp.MulWide : PtxOp.Mul,
                "mad" when IsFloat(ins.Type) => PtxOp.Fma,
                "mad" => hi ? throw Error(file, line, $"unsupported instruction '{mnemonic}'") : wide ? PtxOp.MadWide : PtxOp.Mad,
                "fma" => PtxOp.Fma, "div" => PtxOp.Div, "rem" => PtxOp.Rem, "min" => PtxOp.Min, "max" => PtxOp.Max,
                "neg" => PtxOp.Neg, "abs" => PtxOp.Abs, "and" => PtxOp.And, "or" => PtxOp.Or, "xor" => PtxOp.Xor,
                "not" => PtxOp.Not, "shl" => PtxOp.Shl, "shr" => PtxOp.Shr, "setp" => PtxOp.Setp, "selp" => PtxOp.Selp,
                "bra" => PtxOp.Bra, "ret" or "exit" => PtxOp.Ret, "ex2" when ins.Approx => PtxOp.Ex2,
                "lg2" when ins.Approx => PtxOp.Lg2, "rcp" => PtxOp.Rcp, "sqrt" => PtxOp.Sqrt,
                "rsqrt" when ins.Approx => PtxOp.Rsqrt, "shfl" when parts.Contains("sync") => PtxOp.Shfl,
                "bar" or "barrier" => PtxOp.Bar, "atom" => PtxOp.Atom, "red" => PtxOp.Red,
                _ => throw Error(file, line, $"unsupported instruction '{mnemonic}'"),
            };
            if (ins.Op == PtxOp.Cvt)
            {
                if (ins.SourceType == PtxType.None) throw Error(file, line, $"'{mnemonic}' needs a destination and a source type");
                // The ISA's rounding rules for cvt, as ptxas enforces them (PtxTypeRules.CvtRoundingError).
                if (PtxTypeRules.CvtRoundingError(ins.Type, ins.SourceType, ins.Rounding) is { } wrong)
                    throw Error(file, line, $"'{mnemonic}': {wrong} (PTX ISA, cvt: rounding modifiers).");
                if (!IsFloat(ins.SourceType) && IsFloat(ins.Type) && ins.Rounding != PtxRounding.Rn)
                    throw Error(file, line, $"unsupported instruction '{mnemonic}' (integer to float is emulated with .rn only)");
            }
            // A comparison the type has no meaning for (setp.equ.u32: unordered is a float notion) is refused
            // here, with file:line, rather than when a thread first runs it.
            if (ins.Op == PtxOp.Setp && !PtxTypeRules.ComparisonAllowed(ins.Compare, ins.Type))
                throw Error(file, line, $"'{mnemonic}': .{ins.Compare.ToString().ToLowerInvariant()} does not compare {TypeName(ins.Type)} values; " +
                    $"for {TypeName(ins.Type)} use {PtxTypeRules.ComparisonsFor(ins.Type)} (PTX ISA 9.3.1, comparisons).");
            // Float arithmetic says .rn (or .approx): without it ptxas may fuse a multiply and an add into one fma,
            // rounding once where the emulator (and the CPU reference) round twice; .rz/.rm/.rp are not emulated.
            if (ins.Op is PtxOp.Add or PtxOp.Sub or PtxOp.Mul or PtxOp.Fma or PtxOp.Div or PtxOp.Sqrt or PtxOp.Rcp
                && IsFloat(ins.Type) && !ins.Approx && ins.Rounding != PtxRounding.Rn)
                throw Error(file, line, ins.Rounding == PtxRounding.Default
                    ? $"'{mnemonic}' has no rounding modifier: write .rn (without it ptxas may fuse a multiply and an add into one fma, which rounds once, and the results would no longer match the emulator's or the CPU's)"
                    : $"unsupported instruction '{mnemonic}' (float arithmetic is emulated with .rn only)");
            if (ins.Op is PtxOp.Ld or PtxOp.St && ins.Space == PtxSpace.Generic && parts.Length < 2)
                throw Error(file, line, $"'{mnemonic}' needs a type");
            if (ins.Op is PtxOp.Atom or PtxOp.Red && ins.Space is not (PtxSpace.Global or PtxSpace.Shared))
                throw Error(file, line, $"'{mnemonic}': atomics are supported on .global and .shared only");
        }

        internal static bool IsFloat(PtxType t) => t is PtxType.F16 or PtxType.F32 or PtxType.F64;

        /// <summary>
        /// Decodes the operands into slots, checking each register's declared type against the type the
        /// instruction reads or writes there (<see cref="PtxTypeRules.Agree"/>): ld, st and cvt's data operands
        /// by the relaxed rules; shift amounts .u32; setp's results, selp's selector and guards .pred;
        /// .wide results (and mad.wide's addend) twice the instruction's width.
        /// </summary>
        private void AssignOperands(PtxInstruction ins, string mnemonic, List<string> ops)
        {
            void Need(int count)
            {
                if (ops.Count != count) throw Error(file, line, $"'{mnemonic}' takes {count} operands, found {ops.Count}");
            }
            switch (ins.Op)
            {
                case PtxOp.Ret: Need(0); break;
                case PtxOp.Bar:
                    if (ops.Count != 1) throw Error(file, line, "only 'bar.sync id' (whole block) is supported");
                    break;
                case PtxOp.Bra:
                    Need(1);
                    pendingBranches.Add((ins, ops[0], line));
                    break;
                case PtxOp.Ld:
                    Need(2);
                    ins.Destinations = [.. Elements(ops[0]).Select(o => Write(ins, o, ins.Type, relaxed: true))];
                    if (ins.Destinations.Length != ins.Vector) throw Error(file, line, $"expected {ins.Vector} registers in '{ops[0]}'");
                    Address(ins, ops[1]);
                    break;
                case PtxOp.St:
                    Need(2);
                    Address(ins, ops[0]);
                    ins.Sources = [.. Elements(ops[1]).Select(o => Read(ins, o, ins.Type, relaxed: true))];
                    if (ins.Sources.Length != ins.Vector) throw Error(file, line, $"expected {ins.Vector} values in '{ops[1]}'");
                    break;
                case PtxOp.Atom:
                    Need(3);
                    ins.Destinations = [Write(ins, ops[0], ins.Type)];
                    Address(ins, ops[1]);
                    ins.Sources = [Read(ins, ops[2], ins.Type)];
                    break;
                case PtxOp.Red:
                    Need(2);
                    Address(ins, ops[0]);
                    ins.Sources = [Read(ins, ops[1], ins.Type)];
                    break;
                case PtxOp.Setp:
                    Need(3);
                    ins.Destinations = [.. ops[0].Split('|', StringSplitOptions.TrimEntries).Select(o => Write(ins, o, PtxType.Pred))];
                    ins.Sources = [.. ops.Skip(1).Select(o => Read(ins, o, ins.Type))];
                    break;
                case PtxOp.Shfl:
                    // shfl.sync.mode.b32 d[|p], a, b, c, membermask: b, c and the mask are 32-bit values too.
                    Need(5);
                    ins.Destinations = [.. ops[0].Split('|', StringSplitOptions.TrimEntries).Select((o, i) => Write(ins, o, i == 0 ? PtxType.B32 : PtxType.Pred))];
                    ins.Sources = [.. ops.Skip(1).Select(o => Read(ins, o, PtxType.B32))];
                    break;
                case PtxOp.Selp:
                    Need(4);
                    ins.Destinations = [Write(ins, ops[0], ins.Type)];
                    ins.Sources = [Read(ins, ops[1], ins.Type), Read(ins, ops[2], ins.Type), Read(ins, ops[3], PtxType.Pred)];
                    break;
                default:
                    int sources = ins.Op switch
                    {
                        PtxOp.Mad or PtxOp.MadWide or PtxOp.Fma => 3,
                        PtxOp.Mov or PtxOp.Cvt or PtxOp.Cvta or PtxOp.Neg or PtxOp.Abs or PtxOp.Not or PtxOp.Ex2
                            or PtxOp.Lg2 or PtxOp.Rcp or PtxOp.Sqrt or PtxOp.Rsqrt => 1,
                        _ => 2,
                    };
                    Need(sources + 1);
                    bool cvt = ins.Op == PtxOp.Cvt;
                    ins.Destinations = [Write(ins, ops[0], ins.Op is PtxOp.MulWide or PtxOp.MadWide ? Wider(ins.Type) : ins.Type, relaxed: cvt)];
                    ins.Sources = [.. ops.Skip(1).Select((o, i) => Read(ins, o,
                        cvt ? ins.SourceType
                        : ins.Op is PtxOp.Shl or PtxOp.Shr && i == 1 ? PtxType.U32
                        : ins.Op == PtxOp.MadWide && i == 2 ? Wider(ins.Type)
                        : ins.Type, relaxed: cvt))];
                    ins.ToSpace = ins.Op == PtxOp.Cvta && mnemonic.Contains(".to.");
                    break;
            }
        }

        /// <summary>The result type of .wide (ISA: "d is twice as wide as a and b").</summary>
        private static PtxType Wider(PtxType t) => t switch
        {
            PtxType.S16 => PtxType.S32, PtxType.U16 => PtxType.U32, PtxType.S32 => PtxType.S64, PtxType.U32 => PtxType.U64, _ => t,
        };

        /// <summary>The operands of a brace-enclosed vector, {a, b, c, d}, or the one operand.</summary>
        private static string[] Elements(string operand) =>
            operand.StartsWith('{') ? operand.Trim('{', '}').Split(',', StringSplitOptions.TrimEntries) : [operand];

        /// <summary>A destination register whose declared type agrees with <paramref name="type"/>, the type written there.</summary>
        private int Write(PtxInstruction ins, string name, PtxType type, bool relaxed = false)
        {
            int slot = Typed(ins, name, type, relaxed, writes: true);
            // A trace shows the value as the register's declared type, or, for a bit-size register, as what
            // the instruction wrote when that has the register's size (an add.s32 into a .b32 prints signed).
            PtxType declared = slotTypes[slot];
            PtxType shown = PtxTypeRules.IsBits(declared) && SizeOf(type) == SizeOf(declared) ? type : declared;
            ins.WrittenTypes = [.. ins.WrittenTypes, shown];
            return slot;
        }

        /// <summary>A source: a register whose declared type agrees with <paramref name="type"/>, or an immediate or symbol read as that type.</summary>
        private int Read(PtxInstruction ins, string operand, PtxType type, bool relaxed = false) =>
            registers.ContainsKey(operand) || operand.StartsWith('%') ? Typed(ins, operand, type, relaxed, writes: false) : Source(operand, type);

        /// <summary>
        /// A register operand whose declared type agrees with the type the instruction reads or writes there
        /// (ptxas refuses the others with "Arguments mismatch"): <c>add.s32 %f9, %f1, %f5</c> is an error here.
        /// </summary>
        private int Typed(PtxInstruction ins, string name, PtxType type, bool relaxed, bool writes)
        {
            int slot = Register(name);
            PtxType declared = slotTypes[slot];
            if (PtxTypeRules.Agree(type, declared, relaxed)) return slot;
            var allowed = Enum.GetValues<PtxType>().Where(t => t != PtxType.None && PtxTypeRules.Agree(type, t, relaxed)).Select(TypeName).ToList();
            string which = allowed.Count == 1 ? allowed[0] : string.Join(", ", allowed[..^1]) + " or " + allowed[^1];
            throw Error(file, line, $"'{ins.Text}' {(writes ? "writes" : "reads")} a {TypeName(type)} value {(writes ? "into" : "from")} {name}, " +
                $"which is declared {TypeName(declared)}; there it takes a register declared {which} " +
                $"(PTX ISA {(relaxed ? "9.4.1, relaxed type-checking rules of ld, st and cvt" : "9.4, type checking rules")}). " +
                $"Use a register of one of those types, or the instruction type that matches {name}.");
        }

        /// <summary>The guard of @p or @!p: a .pred register (ptxas: "Predicate expression expected").</summary>
        private int Guard(PtxInstruction ins, string name)
        {
            int slot = Register(name);
            if (slotTypes[slot] != PtxType.Pred)
                throw Error(file, line, $"'{ins.Text}': the guard {name} is declared {TypeName(slotTypes[slot])}; " +
                    "a guard must be a .pred register, set by setp (PTX ISA 9.3, predicated execution).");
            return slot;
        }

        private static string TypeName(PtxType t) => "." + t.ToString().ToLowerInvariant();

        private void Address(PtxInstruction ins, string operand)
        {
            if (!operand.StartsWith('[') || !operand.EndsWith(']')) throw Error(file, line, $"expected an address in [ ], found '{operand}'");
            string inner = operand[1..^1].Replace(" ", "");
            long offset = 0;
            var m = Regex.Match(inner, @"^([%\w$.]+?)(?:\+(-?\w+))?$");
            if (!m.Success) throw Error(file, line, $"cannot read the address '{operand}'");
            if (m.Groups[2].Success) offset = ParseInteger(m.Groups[2].Value);
            string baseName = m.Groups[1].Value;
            if (registers.TryGetValue(baseName, out int slot))
            {
                if (!PtxTypeRules.HoldsAddress(slotTypes[slot]))
                    throw Error(file, line, $"'{ins.Text}': the address register {baseName} is declared {TypeName(slotTypes[slot])}; " +
                        "an address register must be of an integer or bit-size type, e.g. .u64 or .b64 (PTX ISA 6.4.1, addresses as operands).");
                ins.AddressBase = slot;
            }
            else if (parameters.TryGetValue(baseName, out var parameter))
            {
                if (ins.Space != PtxSpace.Param) throw Error(file, line, $"parameter {baseName} is read with ld.param");
                offset += parameter.Offset;
            }
            else if (symbols.TryGetValue(baseName, out var symbol))
            {
                if (symbol.Space != ins.Space) throw Error(file, line, $"{baseName} is .{symbol.Space.ToString().ToLowerInvariant()} memory");
                offset += symbol.Offset;
            }
            else if (char.IsDigit(baseName[0]) || baseName[0] == '-') offset += ParseInteger(baseName);
            else throw Error(file, line, $"unknown name '{baseName}' in the address '{operand}'");
            ins.AddressOffset = offset;
        }

        private int Register(string name)
        {
            if (registers.TryGetValue(name, out int slot)) return slot;
            int special = Array.IndexOf(SpecialNames, name);
            if (special >= 0) return special;
            throw Error(file, line, $"'{name}' is not a declared register");
        }

        /// <summary>A register, special register, symbol address or immediate (as a constant slot).</summary>
        private int Source(string operand, PtxType type)
        {
            if (registers.ContainsKey(operand) || operand.StartsWith('%')) return Register(operand);
            if (symbols.TryGetValue(operand, out var symbol))
                return Constant((ulong)symbol.Offset); // the address in the symbol's own state space
            if (parameters.TryGetValue(operand, out var parameter))
                return Constant((ulong)parameter.Offset); // a kernel parameter's address, for ld.param [%rd+offset]
            if (operand.StartsWith("0f", StringComparison.OrdinalIgnoreCase) && operand.Length == 10)
            {
                uint bits = uint.Parse(operand[2..], NumberStyles.HexNumber);
                return Constant(type == PtxType.F64 ? BitConverter.DoubleToUInt64Bits(BitConverter.UInt32BitsToSingle(bits)) : bits);
            }
            if (operand.StartsWith("0d", StringComparison.OrdinalIgnoreCase) && operand.Length == 18)
                return Constant(ulong.Parse(operand[2..], NumberStyles.HexNumber));
            if (IsFloat(type) && double.TryParse(operand, NumberStyles.Float, CultureInfo.InvariantCulture, out double real))
                return Constant(type == PtxType.F64 ? BitConverter.DoubleToUInt64Bits(real) : BitConverter.SingleToUInt32Bits((float)real));
            if (Regex.IsMatch(operand, @"^-?(0[xX][0-9a-fA-F]+|\d+)U?$"))
            {
                ulong value = (ulong)ParseInteger(operand.TrimEnd('U'));
                return Constant(SizeOf(type) == 8 ? value : SizeOf(type) == 2 ? value & 0xFFFF : SizeOf(type) == 1 ? value & 0xFF : value & 0xFFFF_FFFF);
            }
            throw Error(file, line, $"cannot read the operand '{operand}'");
        }

        private long ParseInteger(string text)
        {
            bool negative = text.StartsWith('-');
            string digits = negative ? text[1..] : text;
            ulong value = digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                ? ulong.Parse(digits[2..], NumberStyles.HexNumber)
                : ulong.TryParse(digits, out var d) ? d : throw Error(file, line, $"cannot read the integer '{text}'");
            return negative ? -(long)value : (long)value;
        }

        private static List<string> SplitOperands(string text)
        {
            var result = new List<string>();
            int depth = 0, start = 0;
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] is '[' or '{') depth++;
                else if (text[i] is ']' or '}') depth--;
                else if (text[i] == ',' && depth == 0) { result.Add(text[start..i].Trim()); start = i + 1; }
            }
            if (text[start..].Trim().Length > 0) result.Add(text[start..].Trim());
            return result;
        }
    }
}
