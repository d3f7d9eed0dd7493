/// The dimensions of a tensor, outermost first (row-major, as NumPy and PyTorch write them).
public struct Shape: Sendable, Hashable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// The dimensions; `[]` is a scalar.
    public var dimensions: [Int]

    /// The most dimensions a tensor may have.
    public static let maximumRank = 8

    public init(_ dimensions: [Int]) { self.dimensions = dimensions }
    public init(arrayLiteral elements: Int...) { self.dimensions = elements }

    public var rank: Int { dimensions.count }

    /// The number of elements, or `nil` when a dimension is negative or the product overflows.
    public var elementCount: Int? {
        var product = 1
        for dimension in dimensions {
            guard dimension >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            product = next
        }
        return product
    }

    /// The number of bytes for `dtype` elements, or `nil` on overflow.
    public func byteCount(for dtype: DType) -> Int? {
        guard let count = elementCount else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        return overflow ? nil : bytes
    }

    /// The shape with the two axes of a matrix swapped.
    public var transposed: Shape { Shape(dimensions.reversed()) }

    public var description: String { "[" + dimensions.map(String.init).joined(separator: ", ") + "]" }
}
