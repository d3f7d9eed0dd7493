import ModelKitCore

/// The element types of ONNX's `TensorProto.DataType`, as numbers (the field is an `int32` in onnx.proto, so types
/// newer than our schema still decode and can be named in `inspect`).
enum ONNXDataType {
    static let float: Int32 = 1
    static let uint8: Int32 = 2
    static let int8: Int32 = 3
    static let int16: Int32 = 5
    static let int32: Int32 = 6
    static let int64: Int32 = 7
    static let bool: Int32 = 9
    static let float16: Int32 = 10
    static let double: Int32 = 11
    static let bfloat16: Int32 = 16

    /// ONNX's names, by number (onnx.proto `TensorProto.DataType`).
    private static let names: [Int32: String] = [
        0: "undefined", 1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
        8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64",
        15: "complex128", 16: "bfloat16", 17: "float8e4m3fn", 18: "float8e4m3fnuz", 19: "float8e5m2",
        20: "float8e5m2fnuz", 21: "uint4", 22: "int4", 23: "float4e2m1", 24: "float8e8m0", 25: "uint2", 26: "int2",
        27: "float6e2m3", 28: "float6e3m2",
    ]

    /// A readable name for `code` (`float32`, `int64`, `data type 99`).
    static func name(_ code: Int32) -> String { names[code] ?? "data type \(code)" }

    /// The ModelKit dtype for an ONNX element type, or `nil` when ModelKit has none.
    static func dtype(_ code: Int32) -> DType? {
        switch code {
        case float: .float32
        case uint8: .uint8
        case int8: .int8
        case int16: .int16
        case int32: .int32
        case int64: .int64
        case bool: .bool
        case float16: .float16
        case double: .float64
        case bfloat16: .bfloat16
        default: nil
        }
    }

    /// The ONNX element type of a ModelKit dtype.
    static func code(_ dtype: DType) -> Int32 {
        switch dtype {
        case .float32: float
        case .uint8: uint8
        case .int8: int8
        case .int16: int16
        case .int32: int32
        case .int64: int64
        case .bool: bool
        case .float16: float16
        case .float64: double
        case .bfloat16: bfloat16
        }
    }
}
