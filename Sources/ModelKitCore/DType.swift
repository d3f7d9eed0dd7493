/// The storage type of a tensor's elements.
///
/// All multi-byte types are little-endian on disk. `bool` takes one byte (0 or 1).
public enum DType: String, Sendable, CaseIterable, Codable {
    case float32, float16, bfloat16, float64
    case int8, int16, int32, int64, uint8
    case bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .int8, .uint8, .bool: 1
        case .float16, .bfloat16, .int16: 2
        case .float32, .int32: 4
        case .float64, .int64: 8
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64: true
        default: false
        }
    }

    /// Parses a dtype name as written in ModelKit files (`"float32"`), also accepting common aliases
    /// (`"f32"`, `"fp16"`, `"bf16"`, `"half"`, `"double"`).
    public init?(name: String) {
        if let exact = DType(rawValue: name) { self = exact; return }
        switch name.lowercased() {
        case "f32", "fp32", "float": self = .float32
        case "f16", "fp16", "half": self = .float16
        case "bf16": self = .bfloat16
        case "f64", "fp64", "double": self = .float64
        case "i8": self = .int8
        case "i16": self = .int16
        case "i32", "int": self = .int32
        case "i64", "long": self = .int64
        case "u8": self = .uint8
        default: return nil
        }
    }
}
