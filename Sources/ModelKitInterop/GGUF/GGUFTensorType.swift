import ModelKitCore

/// A ggml tensor type (`ggml_type`), as stored in a GGUF tensor info (`u32`).
///
/// Every type gguf-py 0.19 knows is named, with its block layout (`GGML_QUANT_SIZES` in gguf-py's `constants.py`:
/// elements per block and bytes per block), so `inspect` can list and size tensors of any of them. ModelKit reads
/// the plain types (``directDType``) without conversion, and dequantizes the block types of ``isReadable`` to
/// float32; the others (the IQ and ternary types, MXFP4, …) are listed but not loaded. A number outside the table is kept as is and named `type N`.
public struct GGUFTensorType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The `ggml_type` number stored in the file.
    public let rawValue: UInt32

    /// The type with number `rawValue` (any number: unknown ones are kept and named `type N`).
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// IEEE float32.
    public static let f32 = GGUFTensorType(rawValue: 0)
    /// IEEE float16.
    public static let f16 = GGUFTensorType(rawValue: 1)
    /// Blocks of 32: an f16 scale `d`, then 16 bytes of 4-bit values `q`; element = `(q − 8) · d`.
    public static let q4_0 = GGUFTensorType(rawValue: 2)
    /// Blocks of 32: an f16 scale `d`, then 32 signed bytes `q`; element = `q · d`.
    public static let q8_0 = GGUFTensorType(rawValue: 8)
    /// Signed 8-bit integers.
    public static let i8 = GGUFTensorType(rawValue: 24)
    /// Signed 16-bit integers.
    public static let i16 = GGUFTensorType(rawValue: 25)
    /// Signed 32-bit integers.
    public static let i32 = GGUFTensorType(rawValue: 26)
    /// Signed 64-bit integers.
    public static let i64 = GGUFTensorType(rawValue: 27)
    /// IEEE float64.
    public static let f64 = GGUFTensorType(rawValue: 28)
    /// bfloat16 (the top 16 bits of a float32).
    public static let bf16 = GGUFTensorType(rawValue: 30)

    /// Name, elements per block, bytes per block (gguf-py 0.19 `GGML_QUANT_SIZES`, with `QK_K` = 256).
    private static let table: [UInt32: (name: String, blockElements: Int, blockBytes: Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
        7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
        12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
        16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
        20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
        24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
        29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
        39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
    ]

    /// Every type in the table, by number.
    public static var known: [GGUFTensorType] { table.keys.sorted().map(GGUFTensorType.init(rawValue:)) }

    /// Whether ggml (as of gguf-py 0.19) defines this type number.
    public var isKnown: Bool { GGUFTensorType.table[rawValue] != nil }

    /// `F32`, `Q4_K`, …, or `type N` for a number outside the table.
    public var name: String { GGUFTensorType.table[rawValue]?.name ?? "type \(rawValue)" }

    /// The same as ``name``.
    public var description: String { name }

    /// Elements per block and bytes per block; `nil` for an unknown type (its size cannot be computed).
    public var blockLayout: (elements: Int, bytes: Int)? {
        GGUFTensorType.table[rawValue].map { ($0.blockElements, $0.blockBytes) }
    }

    /// The ModelKit dtype whose bytes this type stores unchanged (little-endian), or `nil` for block types.
    public var directDType: DType? {
        switch self {
        case .f32: .float32
        case .f16: .float16
        case .bf16: .bfloat16
        case .f64: .float64
        case .i8: .int8
        case .i16: .int16
        case .i32: .int32
        case .i64: .int64
        default: nil
        }
    }

    /// Whether ModelKit can load tensors of this type: plain types as stored; Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and the
    /// K-quants Q2_K, Q3_K, Q4_K, Q5_K and Q6_K dequantized to float32.
    public var isReadable: Bool { directDType != nil || GGUFBlockDequantizer.kernel(for: self) != nil }

    /// The type that stores `dtype` unchanged, or `nil` for `uint8` and `bool`, which ggml has no type for.
    public init?(storing dtype: DType) {
        switch dtype {
        case .float32: self = .f32
        case .float16: self = .f16
        case .bfloat16: self = .bf16
        case .float64: self = .f64
        case .int8: self = .i8
        case .int16: self = .i16
        case .int32: self = .i32
        case .int64: self = .i64
        case .uint8, .bool: return nil
        }
    }
}
