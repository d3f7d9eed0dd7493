import ModelKitCore

/// The type tag of a GGUF metadata value (`gguf_metadata_value_type` in ggml's `docs/gguf.md`; `GGUFValueType` in
/// gguf-py's `constants.py`). Stored in the file as a little-endian `u32`.
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0
    case int8 = 1
    case uint16 = 2
    case int16 = 3
    case uint32 = 4
    case int32 = 5
    case float32 = 6
    /// One byte, 0 or 1; anything else is invalid (the spec says so).
    case bool = 7
    /// `u64` byte length, then that many bytes of UTF-8 (not NUL-terminated).
    case string = 8
    /// `u32` element type, `u64` element count, then the elements; arrays may nest.
    case array = 9
    case uint64 = 10
    case int64 = 11
    case float64 = 12

    /// The size of one value of a fixed-size type, `nil` for strings and arrays.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }

    /// The fewest bytes one value can occupy (an empty string is its 8-byte length; an empty array its 4-byte type
    /// and 8-byte count). Counts read from a file are checked against the bytes left divided by this.
    var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }

    /// The name gguf-py uses (`UINT8`, `STRING`, …).
    public var description: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .float32: "FLOAT32"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array: "ARRAY"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float64: "FLOAT64"
        }
    }
}

/// One GGUF metadata value, exactly as stored (no widening, so a file can be described and rewritten faithfully).
///
/// ```swift
/// let header = try GGUFFormat.readHeader(path: "model.gguf")
/// header["llama.context_length"]?.integerValue   // 4096
/// header["tokenizer.ggml.tokens"]?.summary()      // "[STRING × 32000: \"<unk>\", \"<s>\", …]"
/// ```
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    /// The element type (every element has it) and the elements.
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    /// The type tag this value is stored with.
    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// The text of a string value.
    public var stringValue: String? { if case .string(let text) = self { text } else { nil } }

    /// The elements of an array value.
    public var arrayValue: [GGUFValue]? { if case .array(_, let elements) = self { elements } else { nil } }

    /// An integer value of any width, when it fits in `Int`.
    public var integerValue: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// A number of any type as `Double` (64-bit integers beyond 2⁵³ round).
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        case .uint64(let v): Double(v)
        case .int64(let v): Double(v)
        default: integerValue.map(Double.init)
        }
    }

    /// A short one-line rendering for `inspect`: scalars in full (strings quoted and cut at `maximumStringLength`
    /// characters), arrays as their type and count with the first `maximumElements` elements.
    public func summary(maximumElements: Int = 8, maximumStringLength: Int = 80) -> String {
        switch self {
        case .string(let text):
            return GGUFValue.quoted(text, limit: maximumStringLength)
        case .array(let elementType, let elements):
            let shown = elements.prefix(maximumElements).map {
                $0.summary(maximumElements: max(1, maximumElements / 2), maximumStringLength: min(maximumStringLength, 32))
            }
            let more = elements.count > maximumElements ? ", …" : ""
            return "[\(elementType) × \(elements.count)" + (shown.isEmpty ? "]" : ": " + shown.joined(separator: ", ") + more + "]")
        case .bool(let flag): return flag ? "true" : "false"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .uint64(let v): return String(v)
        case .int64(let v): return String(v)
        case .uint8, .int8, .uint16, .int16, .uint32, .int32: return integerValue.map(String.init) ?? ""
        }
    }

    /// `text` in double quotes with control characters escaped, cut to `limit` characters.
    static func quoted(_ text: String, limit: Int) -> String {
        var output = "\""
        for (index, character) in text.enumerated() {
            if index == limit { output += "…"; break }
            switch character {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if let ascii = character.asciiValue, ascii < 0x20 || ascii == 0x7F {
                    output += "\\u{\(String(ascii, radix: 16))}"
                } else {
                    output.append(character)
                }
            }
        }
        return output + "\""
    }
}

/// One metadata key and its value, in file order.
public struct GGUFMetadataEntry: Sendable, Equatable {
    /// A hierarchical key such as `general.name` or `llama.context_length`.
    public var key: String
    /// The value, with its stored type.
    public var value: GGUFValue

    /// Pairs a key and its value.
    public init(key: String, value: GGUFValue) {
        self.key = key
        self.value = value
    }
}
