import ModelKitCore

/// Turns the tensor views recorded by the unpickler into contiguous little-endian ``Tensor``s.
///
/// A tensor whose view is contiguous in a little-endian archive is the storage record itself, seen in place in the
/// memory-mapped file (torch stores records uncompressed and 64-byte aligned): no copy. A non-contiguous view (a
/// transpose, a strided slice, a broadcast with stride 0) or a big-endian archive costs exactly one copy. Every view
/// is checked against its storage before a byte is read. Each storage's CRC-32 is checked once, however many
/// tensors share it.
struct TorchTensorReader {
    let archive: TorchArchive
    private var contentsByKey: [String: ZipMemberContents] = [:]

    /// The most bytes a copied view may take beyond the size of its storage (a broadcast, stride-0 view).
    static let maximumExpansionBytes = 256 << 20

    init(archive: TorchArchive) { self.archive = archive }

    /// The tensor `reference` describes, named `name` in errors.
    ///
    /// - Throws: ``PyTorchError/unsupportedDType(path:tensor:dtype:)``, ``PyTorchError/missingStorage(path:tensor:record:)``,
    ///   ``PyTorchError/storageSizeMismatch(path:record:expected:actual:)``, ``PyTorchError/invalidTensorView(path:tensor:reason:)``.
    mutating func tensor(_ reference: TorchTensorReference, name: String) throws(PyTorchError) -> Tensor {
        let path = archive.path
        let storage = archive.heap.storages[reference.storage]
        let scalarType: TorchScalarType
        switch (reference.dtype, storage.type) {
        case (let dtype?, _): scalarType = dtype
        case (nil, .typed(let type)): scalarType = type
        case (nil, .untyped):
            throw .invalidTensorView(path: path, tensor: name, reason: "an untyped storage without a dtype")
        }
        guard let dtype = scalarType.dtype else { throw .unsupportedDType(path: path, tensor: name, dtype: scalarType.name) }
        let elementSize = dtype.byteSize
        let record = archive.storageRecordName(storage.key)

        // The storage's size in bytes and elements, as data.pkl declares it; the record must hold exactly that.
        let storageBytes: Int
        if case .typed = storage.type {
            let (bytes, overflow) = storage.count.multipliedReportingOverflow(by: elementSize)
            guard !overflow else { throw .invalidTensorView(path: path, tensor: name, reason: "storage \(MessageText.quoted(storage.key)) declares \(storage.count) elements, too many to exist") }
            storageBytes = bytes
        } else {
            storageBytes = storage.count
        }
        let contents = try storageContents(storage.key, tensor: name)
        guard contents.range.count == storageBytes else {
            throw .storageSizeMismatch(path: path, record: record, expected: storageBytes, actual: contents.range.count)
        }
        let storageElements = storageBytes / elementSize

        let shape = Shape(reference.size)
        guard shape.rank <= Shape.maximumRank else {
            throw .invalidTensorView(path: path, tensor: name, reason: "\(shape.rank) dimensions; at most \(Shape.maximumRank) are supported")
        }
        guard let elementCount = shape.elementCount, shape.byteCount(for: dtype) != nil else {
            throw .invalidTensorView(path: path, tensor: name, reason: "size \(shape) has more elements than fit in memory")
        }
        if elementCount == 0 { return Tensor.make(dtype: dtype, shape: shape) { _ in } }
        let last = try lastElement(reference, name: name)
        guard last < storageElements else {
            throw .invalidTensorView(path: path, tensor: name, reason: "size \(shape), stride \(reference.stride) and offset "
                                     + "\(reference.storageOffset) reach element \(last) of storage \(MessageText.quoted(storage.key)), which has \(storageElements)")
        }
        let byteOffset = contents.range.lowerBound + reference.storageOffset * elementSize
        if isContiguous(reference), archive.byteOrder == .little || elementSize == 1 {
            do { return try Tensor(dtype: dtype, shape: shape, storage: contents.storage, byteOffset: byteOffset) } catch {
                throw .invalidTensorView(path: path, tensor: name, reason: error.description)
            }
        }
        // A copy is as large as the storage, except for views that repeat elements (stride 0): those may not
        // make a small file claim more memory than the cap.
        let outputBytes = elementCount * elementSize
        guard outputBytes <= storageBytes || outputBytes <= Self.maximumExpansionBytes else {
            throw .invalidTensorView(path: path, tensor: name, reason: "a view of \(elementCount) elements over a storage of "
                                     + "\(storageElements) would need \(outputBytes) bytes when copied, more than the "
                                     + "\(Self.maximumExpansionBytes) allowed for views that repeat elements")
        }
        return gather(reference, from: contents.storage.bytes, byteOffset: byteOffset, dtype: dtype, shape: shape,
                      swapBytes: archive.byteOrder == .big)
    }

    private mutating func storageContents(_ key: String, tensor: String) throws(PyTorchError) -> ZipMemberContents {
        if let cached = contentsByKey[key] { return cached }
        let contents = try archive.storageContents(key: key, tensor: tensor)
        contentsByKey[key] = contents
        return contents
    }

    /// The index (in elements, from the storage's start) of the view's last element; overflow is an error.
    private func lastElement(_ reference: TorchTensorReference, name: String) throws(PyTorchError) -> Int {
        var last = reference.storageOffset
        for (size, stride) in zip(reference.size, reference.stride) {
            let (step, overflow) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, overflow2) = last.addingReportingOverflow(step)
            guard !overflow, !overflow2 else {
                throw .invalidTensorView(path: archive.path, tensor: name, reason: "stride \(reference.stride) overflows")
            }
            last = sum
        }
        return last
    }

    /// Whether the view is row-major without gaps (dimensions of size 1 may have any stride).
    private func isContiguous(_ reference: TorchTensorReference) -> Bool {
        var expected = 1
        for (size, stride) in zip(reference.size, reference.stride).reversed() where size != 1 {
            guard stride == expected else { return false }
            expected *= size
        }
        return true
    }

    /// Copies the view into new contiguous memory, element by element along the last axis (rows when it is
    /// contiguous), reversing each element's bytes for a big-endian archive.
    private func gather(_ reference: TorchTensorReference, from source: UnsafeRawBufferPointer, byteOffset: Int,
                        dtype: DType, shape: Shape, swapBytes: Bool) -> Tensor {
        let elementSize = dtype.byteSize
        let sizes = reference.size.isEmpty ? [1] : reference.size
        let strides = reference.stride.isEmpty ? [1] : reference.stride
        let rank = sizes.count
        let innerSize = sizes[rank - 1]
        let innerStride = strides[rank - 1]
        return Tensor.make(dtype: dtype, shape: shape) { output in
            // Both are non-nil: the caller proved the view has elements and lies inside the storage.
            guard let target = output.baseAddress, let base = source.baseAddress else { return }
            var index = [Int](repeating: 0, count: rank - 1)
            var written = 0
            while true {
                var start = byteOffset
                for axis in 0..<(rank - 1) { start += index[axis] * strides[axis] * elementSize }
                if innerStride == 1 {
                    let count = innerSize * elementSize
                    (target + written).copyMemory(from: base + start, byteCount: count)
                    written += count
                } else {
                    for element in 0..<innerSize {
                        (target + written).copyMemory(from: base + start + element * innerStride * elementSize,
                                                      byteCount: elementSize)
                        written += elementSize
                    }
                }
                // Advance the multi-index over every axis but the last.
                var axis = rank - 2
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < sizes[axis] { break }
                    index[axis] = 0
                    axis -= 1
                }
                if axis < 0 { break }
            }
            if swapBytes, elementSize > 1 {
                for element in stride(from: 0, to: written, by: elementSize) {
                    var low = element, high = element + elementSize - 1
                    while low < high {
                        output.swapAt(low, high)
                        low += 1
                        high -= 1
                    }
                }
            }
        }
    }
}
