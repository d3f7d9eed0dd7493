import ModelKitCore

/// The dtype names of the safetensors header and their order in files the reference writer produces.
enum SafetensorsDType {
    /// Our dtype for a header name, or `nil` when ModelKit does not support it.
    static func dtype(named name: String) -> DType? {
        switch name {
        case "F64": .float64
        case "F32": .float32
        case "F16": .float16
        case "BF16": .bfloat16
        case "I64": .int64
        case "I32": .int32
        case "I16": .int16
        case "I8": .int8
        case "U8": .uint8
        case "BOOL": .bool
        default: nil
        }
    }

    /// Names the safetensors format defines that ModelKit does not read (so the error can say "unsupported"
    /// rather than "unknown"): unsigned integers wider than a byte, 8-, 6- and 4-bit floats, complex numbers.
    static let knownUnsupported: Set<String> = [
        "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", "I4", "U4",
    ]

    /// The names ModelKit reads, for error messages.
    static let supportedList = "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL"

    /// The header name of `dtype`.
    static func name(of dtype: DType) -> String {
        switch dtype {
        case .float64: "F64"
        case .float32: "F32"
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .int64: "I64"
        case .int32: "I32"
        case .int16: "I16"
        case .int8: "I8"
        case .uint8: "U8"
        case .bool: "BOOL"
        }
    }

    /// The position of `dtype` in the reference's `Dtype` enum, which lists types in increasing alignment
    /// (`safetensors/src/tensor.rs`: BOOL, U8, I8, …, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64). The
    /// reference writer sorts tensors by this rank, largest first, then by name, so that every tensor's data is
    /// aligned to its element size once the header is padded to a multiple of 8.
    static func alignmentRank(of dtype: DType) -> Int {
        switch dtype {
        case .bool: 0
        case .uint8: 1
        case .int8: 2
        case .int16: 3
        case .float16: 4
        case .bfloat16: 5
        case .int32: 6
        case .float32: 7
        case .float64: 8
        case .int64: 9
        }
    }
}
