/// A dense, contiguous, row-major array of one dtype: a view of bytes in a ``TensorStorage``.
///
/// Tensors are values: copying one shares its bytes, which never change. A tensor read from a `.mkit` file views
/// the memory-mapped file directly.
///
/// ```swift
/// let weight = Tensor(float32: [1, 2, 3, 4, 5, 6], shape: [2, 3])
/// weight.floatValues() // [1, 2, 3, 4, 5, 6]
/// ```
public struct Tensor: Sendable {
    public let dtype: DType
    public let shape: Shape
    /// The bytes this tensor views.
    public let storage: TensorStorage
    /// Where the tensor's bytes begin in `storage`.
    public let byteOffset: Int
    /// The number of bytes: element count × element size.
    public let byteCount: Int

    /// Views `byteCount(for: dtype)` bytes of `storage` starting at `byteOffset`.
    ///
    /// - Throws: ``TensorError`` when the shape overflows or the bytes lie outside the storage.
    public init(dtype: DType, shape: Shape, storage: TensorStorage, byteOffset: Int = 0) throws(TensorError) {
        guard shape.rank <= Shape.maximumRank else { throw .rankTooLarge(shape) }
        guard let count = shape.byteCount(for: dtype) else { throw .shapeOverflow(shape, dtype) }
        let (end, overflow) = byteOffset.addingReportingOverflow(count)
        guard byteOffset >= 0, !overflow, end <= storage.bytes.count else {
            throw .outOfBounds(offset: byteOffset, length: count, available: storage.bytes.count)
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.byteOffset = byteOffset
        self.byteCount = count
    }

    /// Makes a float32 tensor from values in row-major order.
    public init(float32 values: [Float], shape: Shape) {
        precondition(shape.elementCount == values.count, "\(values.count) values do not fill shape \(shape)")
        let storage = values.withUnsafeBytes { TensorStorage(copying: $0) }
        self.dtype = .float32
        self.shape = shape
        self.storage = storage
        self.byteOffset = 0
        self.byteCount = storage.bytes.count
    }

    /// The number of elements.
    public var elementCount: Int { byteCount / dtype.byteSize }

    /// The tensor's bytes.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage.bytes[byteOffset..<(byteOffset + byteCount)])
    }

    /// The same bytes seen with another shape of equal element count.
    public func reshaped(_ newShape: Shape) throws(TensorError) -> Tensor {
        guard newShape.elementCount == shape.elementCount else { throw .reshape(from: shape, to: newShape) }
        return try Tensor(dtype: dtype, shape: newShape, storage: storage, byteOffset: byteOffset)
    }

    /// Whether both tensors have the same dtype, shape and bytes.
    public func hasSameContents(as other: Tensor) -> Bool {
        dtype == other.dtype && shape == other.shape && bytes.elementsEqual(other.bytes)
    }
}

/// Problems making or using a tensor.
public enum TensorError: Error, Sendable, Equatable, CustomStringConvertible {
    case rankTooLarge(Shape)
    case shapeOverflow(Shape, DType)
    case outOfBounds(offset: Int, length: Int, available: Int)
    case reshape(from: Shape, to: Shape)
    case notFloatingPoint(DType)

    public var description: String {
        switch self {
        case .rankTooLarge(let shape):
            "shape \(shape) has \(shape.rank) dimensions; at most \(Shape.maximumRank) are supported"
        case .shapeOverflow(let shape, let dtype):
            "shape \(shape) of \(dtype.rawValue) has more elements or bytes than fit in memory (overflow)"
        case .outOfBounds(let offset, let length, let available):
            "\(length) bytes at offset \(offset) lie outside the \(available) bytes available"
        case .reshape(let from, let to):
            "cannot view shape \(from) as \(to): element counts differ"
        case .notFloatingPoint(let dtype):
            "dtype \(dtype.rawValue) is not a floating-point type"
        }
    }
}
