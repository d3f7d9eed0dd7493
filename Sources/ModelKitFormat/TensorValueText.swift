import ModelKitCore

/// Tensor elements as JSON values and back, exactly (Specs/format.md J2, J3).
///
/// Floats are written as the shortest decimal that reads back to the same value; float16 and bfloat16 values are
/// written as their exact float32 value, so reading them back never rounds twice.
public enum TensorValueText {
    /// The elements of `tensor` as a flat JSON array.
    public static func encode(_ tensor: Tensor) -> JSONValue {
        let bytes = tensor.bytes
        var values: [JSONValue] = []
        values.reserveCapacity(tensor.elementCount)
        for index in 0..<tensor.elementCount {
            switch tensor.dtype {
            case .float32:
                let bits = bytes.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self).littleEndian
                values.append(float(Float(bitPattern: bits), canonicalNaN: bits == Float.nan.bitPattern, bits: UInt64(bits), digits: 8))
            case .float16:
                let bits = bytes.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self).littleEndian
                values.append(float(Float(Float16(bitPattern: bits)), canonicalNaN: bits == 0x7E00, bits: UInt64(bits), digits: 4))
            case .bfloat16:
                let bits = bytes.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self).littleEndian
                values.append(float(BFloat16Bits.toFloat(bits), canonicalNaN: bits == 0x7FC0, bits: UInt64(bits), digits: 4))
            case .float64:
                let bits = bytes.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self).littleEndian
                let value = Double(bitPattern: bits)
                if value.isFinite { values.append(.number(value.description)) } else {
                    values.append(nonFinite(isNaN: value.isNaN, negative: value.sign == .minus, canonical: bits == Double.nan.bitPattern, bits: bits, digits: 16))
                }
            case .bool:
                values.append(.bool(bytes[index] != 0))
            case .int8, .int16, .int32, .int64, .uint8:
                values.append(.number(String(tensor.integerElement(at: index) ?? 0)))
            }
        }
        return .array(values)
    }

    private static func float(_ value: Float, canonicalNaN: Bool, bits: UInt64, digits: Int) -> JSONValue {
        if value.isFinite { return .number(value.description) }
        return nonFinite(isNaN: value.isNaN, negative: value.sign == .minus, canonical: canonicalNaN, bits: bits, digits: digits)
    }

    private static func nonFinite(isNaN: Bool, negative: Bool, canonical: Bool, bits: UInt64, digits: Int) -> JSONValue {
        if !isNaN { return .string(negative ? "-inf" : "inf") }
        if canonical { return .string("nan") }
        let hex = String(bits, radix: 16)
        return .string("nan:0x" + String(repeating: "0", count: max(0, digits - hex.count)) + hex)
    }

    /// Reads a flat JSON array into a tensor of `dtype` and `shape`.
    ///
    /// - Throws: ``ModelFileError`` naming the tensor and the index of the first bad value.
    public static func decode(_ value: JSONValue, name: String, dtype: DType, shape: Shape) throws(ModelFileError) -> Tensor {
        guard case .array(let items) = value else { throw bad(name, "'values' must be a flat list of numbers (J1)") }
        guard let count = shape.elementCount, items.count == count else {
            throw bad(name, "has \(items.count) values, but shape \(shape) needs \(shape.elementCount.map(String.init) ?? "too many") (J3)")
        }
        var failure: ModelFileError?
        let tensor = Tensor.make(dtype: dtype, shape: shape) { raw in
            for (index, item) in items.enumerated() {
                do { try store(item, at: index, dtype: dtype, into: raw) } catch {
                    failure = bad(name, "value \(index): \((error as? ValueError)?.message ?? "\(error)") (J2, J3)")
                    return
                }
            }
        }
        if let failure { throw failure }
        return tensor
    }

    private struct ValueError: Error { var message: String }

    private static func store(_ item: JSONValue, at index: Int, dtype: DType, into raw: UnsafeMutableRawBufferPointer) throws(ValueError) {
        switch dtype {
        case .float32:
            raw.storeBytes(of: try floatBits(item, nanBits: 0x7FC0_0000, parse: { Float($0)?.bitPattern }).littleEndian,
                           toByteOffset: 4 * index, as: UInt32.self)
        case .float16:
            // Through float64 (J2): one rounding from the 53-bit intermediate, not two through float32.
            let bits = try floatBits(item, nanBits: 0x7E00) { text -> UInt16? in Double(text).map { Float16($0).bitPattern } }
            raw.storeBytes(of: bits.littleEndian, toByteOffset: 2 * index, as: UInt16.self)
        case .bfloat16:
            let bits = try floatBits(item, nanBits: 0x7FC0) { text -> UInt16? in Float(text).map { BFloat16Bits.fromFloat($0) } }
            raw.storeBytes(of: bits.littleEndian, toByteOffset: 2 * index, as: UInt16.self)
        case .float64:
            raw.storeBytes(of: try floatBits(item, nanBits: 0x7FF8_0000_0000_0000, parse: { Double($0)?.bitPattern }).littleEndian,
                           toByteOffset: 8 * index, as: UInt64.self)
        case .bool:
            guard let flag = item.boolValue else { throw ValueError(message: "expected true or false, found \(item.typeName)") }
            raw[index] = flag ? 1 : 0
        case .int8: raw.storeBytes(of: try integer(item, as: Int8.self), toByteOffset: index, as: Int8.self)
        case .uint8: raw.storeBytes(of: try integer(item, as: UInt8.self), toByteOffset: index, as: UInt8.self)
        case .int16: raw.storeBytes(of: try integer(item, as: Int16.self).littleEndian, toByteOffset: 2 * index, as: Int16.self)
        case .int32: raw.storeBytes(of: try integer(item, as: Int32.self).littleEndian, toByteOffset: 4 * index, as: Int32.self)
        case .int64: raw.storeBytes(of: try integer(item, as: Int64.self).littleEndian, toByteOffset: 8 * index, as: Int64.self)
        }
    }

    private static func floatBits<Bits: FixedWidthInteger & UnsignedInteger>(
        _ item: JSONValue, nanBits: Bits, parse: (String) -> Bits?
    ) throws(ValueError) -> Bits {
        switch item {
        case .number(let text):
            guard let bits = parse(text) else { throw ValueError(message: "\(MessageText.quoted(text)) is not a number of this dtype") }
            return bits
        case .string("nan"): return nanBits
        case .string("inf"): return parse("inf") ?? nanBits
        case .string("-inf"): return parse("-inf") ?? nanBits
        case .string(let text) where text.hasPrefix("nan:0x"):
            guard let bits = Bits(text.dropFirst(6), radix: 16) else { throw ValueError(message: "\(MessageText.quoted(text)) is not a NaN bit pattern") }
            return bits
        default:
            throw ValueError(message: "expected a number or \"nan\"/\"inf\"/\"-inf\", found \(item.typeName)")
        }
    }

    private static func integer<T: FixedWidthInteger>(_ item: JSONValue, as type: T.Type) throws(ValueError) -> T {
        guard case .number(let text) = item else { throw ValueError(message: "expected an integer, found \(item.typeName)") }
        guard let value = T(text) else { throw ValueError(message: "\(MessageText.quoted(text)) is not an integer in the range of \(T.self)") }
        return value
    }

    private static func bad(_ name: String, _ message: String) -> ModelFileError {
        ModelFileError(.corrupt, "tensor \(MessageText.quoted(name)) \(message)")
    }
}
