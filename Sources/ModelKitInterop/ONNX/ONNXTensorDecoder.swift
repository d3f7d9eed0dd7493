import Foundation
import ModelKitCore

/// Turns `TensorProto`s into ``Tensor``s, checking dims, element type and data size before any allocation.
///
/// A tensor's values may be in `raw_data` (little-endian bytes), in a typed repeated field (`float_data`,
/// `int32_data`, `int64_data`, `double_data`), or in an external file. Whichever it is, the number of values present
/// must equal the product of the dims; the product is computed with overflow checks, so dims such as
/// `[2^40, 2^40]` are an error, never an allocation.
struct ONNXTensorDecoder {
    let path: String
    let external: ONNXExternalData

    init(path: String) {
        self.path = path
        self.external = ONNXExternalData(modelPath: path)
    }

    /// The shape of `proto`, checked: non-negative dims, at most ``Shape/maximumRank`` of them, and an element
    /// count and byte size that fit in memory for `dtype`.
    func shape(of proto: Onnx_TensorProto, dtype: DType, what: String) throws(ONNXError) -> Shape {
        let dims = proto.dims
        let text = "[" + dims.map(String.init).joined(separator: ", ") + "]"
        guard dims.count <= Shape.maximumRank else {
            throw ONNXError(.unsupported, "\(what) has \(dims.count) dims \(text); ModelKit supports at most "
                            + "\(Shape.maximumRank)", path: path)
        }
        var dimensions: [Int] = []
        for dim in dims {
            guard dim >= 0, let value = Int(exactly: dim) else {
                throw ONNXError(.corrupt, "\(what) has a negative dim in \(text); the file is damaged", path: path)
            }
            dimensions.append(value)
        }
        let shape = Shape(dimensions)
        guard shape.byteCount(for: dtype) != nil else {
            throw ONNXError(.corrupt, "\(what) has dims \(text) whose \(dtype.rawValue) size overflows 64 bits; the "
                            + "file is damaged or hostile", path: path)
        }
        return shape
    }

    /// The ModelKit dtype of `proto`, or an error naming the ONNX type.
    func dtype(of proto: Onnx_TensorProto, what: String) throws(ONNXError) -> DType {
        guard let dtype = ONNXDataType.dtype(proto.dataType) else {
            throw ONNXError(.unsupported, "\(what) has element type \(ONNXDataType.name(proto.dataType)), which ModelKit "
                            + "does not read (it reads float32/16/64, bfloat16, int8/16/32/64, uint8, bool)", path: path)
        }
        return dtype
    }

    /// Decodes `proto` into a tensor. `what` names it in errors (`initializer 'fc1.weight'`).
    func decode(_ proto: Onnx_TensorProto, what: String) throws(ONNXError) -> Tensor {
        let dtype = try dtype(of: proto, what: what)
        let shape = try shape(of: proto, dtype: dtype, what: what)
        guard !proto.hasSegment else {
            throw ONNXError(.unsupported, "\(what) is a segment of a larger tensor, which ModelKit does not read",
                            path: path)
        }
        // `shape(of:)` proved that both products fit.
        let count = shape.elementCount ?? 0
        let byteCount = shape.byteCount(for: dtype) ?? 0

        if proto.dataLocation == .external {
            let (storage, offset) = try external.bytes(of: proto, expectedBytes: byteCount)
            do { return try Tensor(dtype: dtype, shape: shape, storage: storage, byteOffset: offset) } catch {
                throw ONNXError(.externalData, "\(what): \(error)", path: path)
            }
        }
        if proto.hasRawData {
            let raw = proto.rawData
            guard raw.count == byteCount else {
                throw ONNXError(.corrupt, "\(what): raw_data holds \(raw.count) bytes but dims \(shape) of "
                                + "\(dtype.rawValue) need \(byteCount); the file is damaged", path: path)
            }
            return Tensor.make(dtype: dtype, shape: shape) { buffer in
                raw.withUnsafeBytes { source in buffer.copyMemory(from: source) }
            }
        }
        return try decodeTyped(proto, dtype: dtype, shape: shape, count: count, what: what)
    }

    /// Values held in the typed repeated fields (how small tensors and older exporters store them).
    private func decodeTyped(_ proto: Onnx_TensorProto, dtype: DType, shape: Shape, count: Int,
                             what: String) throws(ONNXError) -> Tensor {
        func check(_ present: Int, _ field: String) throws(ONNXError) {
            guard present == count else {
                if present == 0 {
                    throw ONNXError(.corrupt, "\(what) has dims \(shape) but no data (no raw_data, no \(field), not "
                                    + "external); the file is damaged", path: path)
                }
                throw ONNXError(.corrupt, "\(what): \(field) holds \(present) values but dims \(shape) need "
                                + "\(count); the file is damaged", path: path)
            }
        }
        switch dtype {
        case .float32:
            try check(proto.floatData.count, "float_data")
            return Tensor(float32: proto.floatData, shape: shape)
        case .float64:
            try check(proto.doubleData.count, "double_data")
            let values = proto.doubleData
            return Tensor.make(dtype: dtype, shape: shape) { buffer in
                for (index, value) in values.enumerated() {
                    buffer.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 8 * index, as: UInt64.self)
                }
            }
        case .int64:
            try check(proto.int64Data.count, "int64_data")
            let values = proto.int64Data
            return Tensor.make(dtype: dtype, shape: shape) { buffer in
                for (index, value) in values.enumerated() {
                    buffer.storeBytes(of: value.littleEndian, toByteOffset: 8 * index, as: Int64.self)
                }
            }
        case .int32, .int16, .int8, .uint8, .bool, .float16, .bfloat16:
            // ONNX keeps these one per int32; float16/bfloat16 as their bit patterns in the low 16 bits.
            try check(proto.int32Data.count, "int32_data")
            let values = proto.int32Data
            let size = dtype.byteSize
            return Tensor.make(dtype: dtype, shape: shape) { buffer in
                for (index, value) in values.enumerated() {
                    switch size {
                    case 4: buffer.storeBytes(of: value.littleEndian, toByteOffset: 4 * index, as: Int32.self)
                    case 2: buffer.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, toByteOffset: 2 * index, as: UInt16.self)
                    default: buffer.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: index, as: UInt8.self)
                    }
                }
            }
        }
    }

    /// The stored byte count and dims of `proto` without decoding it (for `inspect`); `nil` byte count when the
    /// type has no fixed size or the dims overflow.
    static func describe(_ proto: Onnx_TensorProto) -> (dims: [Int64], dtype: DType?, byteCount: Int?) {
        let dtype = ONNXDataType.dtype(proto.dataType)
        var count = 1
        var valid = proto.dims.count <= Shape.maximumRank
        for dim in proto.dims {
            guard dim >= 0, let value = Int(exactly: dim) else { valid = false; break }
            let (product, overflow) = count.multipliedReportingOverflow(by: value)
            if overflow { valid = false; break }
            count = product
        }
        guard valid, let dtype else { return (proto.dims, dtype, nil) }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        return (proto.dims, dtype, overflow ? nil : bytes)
    }
}
