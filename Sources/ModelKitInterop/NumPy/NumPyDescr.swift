import ModelKitCore

/// A NumPy type string (`descr`, e.g. `'<f4'`) mapped to our ``DType`` and byte order, and back.
///
/// The descr is a byte-order character (`<` little, `>` big, `|` not applicable, `=` native), a kind character and
/// an item size in bytes. See Specs/interop/numpy.md for the table.
struct NumPyDescr: Equatable {
    let dtype: DType
    /// Whether the bytes are big-endian and must be swapped into our little-endian storage.
    let isBigEndian: Bool

    /// The descr NumPy writes for `dtype` (little-endian, `|` for one-byte types), or `nil` when NumPy has no such
    /// type (bfloat16).
    static func descr(for dtype: DType) -> String? {
        switch dtype {
        case .float16: "<f2"
        case .float32: "<f4"
        case .float64: "<f8"
        case .int8: "|i1"
        case .int16: "<i2"
        case .int32: "<i4"
        case .int64: "<i8"
        case .uint8: "|u1"
        case .bool: "|b1"
        case .bfloat16: nil
        }
    }

    /// Parses a descr string; the error text says why a type is refused and how to convert it.
    static func parse(_ descr: String) -> Result<NumPyDescr, DescrProblem> {
        var scalars = Substring(descr)
        var order: Character = "="
        if let first = scalars.first, "<>|=".contains(first) {
            order = first
            scalars = scalars.dropFirst()
        }
        guard let kind = scalars.first else { return .failure(.unknown) }
        let sizeText = scalars.dropFirst()
        if let problem = refusedKind(kind) { return .failure(problem) }
        guard let size = Int(sizeText), sizeText.allSatisfy(\.isASCII) else {
            return .failure(.unknown)
        }
        let dtype: DType
        switch (kind, size) {
        case ("f", 2): dtype = .float16
        case ("f", 4): dtype = .float32
        case ("f", 8): dtype = .float64
        case ("f", 12), ("f", 16): return .failure(.longDouble)
        case ("i", 1): dtype = .int8
        case ("i", 2): dtype = .int16
        case ("i", 4): dtype = .int32
        case ("i", 8): dtype = .int64
        case ("u", 1): dtype = .uint8
        case ("u", 2), ("u", 4), ("u", 8): return .failure(.unsignedWide(bits: size * 8))
        case ("b", 1): dtype = .bool
        default: return .failure(.unknown)
        }
        if order == "|" && size > 1 { return .failure(.missingByteOrder) }
        // '=' (native) means little-endian on every platform we build for.
        return .success(NumPyDescr(dtype: dtype, isBigEndian: order == ">" && size > 1))
    }

    private static func refusedKind(_ kind: Character) -> DescrProblem? {
        switch kind {
        case "O": .object
        case "c": .complex
        case "U", "S", "a": .text
        case "M", "m": .datetime
        case "V": .void
        default: nil
        }
    }
}

/// Why a descr is refused; ``hint`` is the sentence shown to the user.
enum DescrProblem: Error, Equatable {
    case object, complex, text, datetime, void, longDouble, missingByteOrder, unknown
    case unsignedWide(bits: Int)
    /// The descr is a list (a structured dtype) or a tuple (a sub-array dtype), not a string.
    case structured

    var hint: String {
        switch self {
        case .object:
            "Python objects (dtype=object) are stored with pickle, which can run arbitrary code and is never loaded; "
                + "save a numeric array instead"
        case .complex: "complex numbers are not supported; save the real and imaginary parts as separate float arrays"
        case .text: "strings are not numeric tensors; save numbers instead"
        case .datetime: "dates and time deltas are not supported; convert them to int64 or float values"
        case .void: "raw void records are not supported; save a plain numeric array"
        case .longDouble: "long double (float96/float128) is not supported; convert with arr.astype(np.float64)"
        case .missingByteOrder: "a multi-byte type needs a byte order ('<' or '>'), not '|'"
        case .unsignedWide(let bits):
            "uint\(bits) is not supported; convert with arr.astype(np.int\(min(bits * 2, 64)))"
        case .structured: "structured (record) dtypes are not supported; save each field as its own array"
        case .unknown:
            "not a NumPy type this reader knows; supported: float16/32/64, int8/16/32/64, uint8, bool"
        }
    }
}
