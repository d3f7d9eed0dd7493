import ModelKitCore
import ModelKitFormat

/// Reads and writes NumPy `.npy` arrays and `.npz` archives (numpy.lib.format versions 1.0, 2.0 and 3.0).
///
/// Reading accepts float16/32/64, int8/16/32/64, uint8 and bool in either byte order and in C or Fortran order;
/// the tensor is always little-endian and row-major. A little-endian C-order array is viewed straight from the
/// memory-mapped file without a copy; anything else costs exactly one copy. Object arrays (pickle), structured,
/// complex, string and date types are refused with an error naming the dtype. See Specs/interop/numpy.md.
///
/// ```swift
/// let x = try NumPyFile.readArray(path: "inputs.npy")        // e.g. float32 [32, 400]
/// try NumPyFile.writeArray(x, to: "copy.npy")                 // byte-identical to np.save for C-order arrays
/// for (name, tensor) in try NumPyFile.readArchive(path: "weights.npz") { print(name, tensor.shape) }
/// ```
public enum NumPyFile {
    /// The longest header accepted, in bytes: NumPy's own default limit (`max_header_size`), far above the ~120
    /// bytes a plain array needs.
    public static let maximumHeaderLength = 10_000

    /// Reads the `.npy` file at `path`, memory-mapping it.
    ///
    /// - Parameter path: The file to read.
    /// - Returns: The array as a tensor; little-endian C-order files are viewed in place.
    /// - Throws: ``NumPyError`` when the file cannot be opened, is not `.npy`, is truncated or malformed, or holds
    ///   a dtype we do not read.
    public static func readArray(path: String) throws(NumPyError) -> Tensor {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw .fileAccess(error) }
        return try readArray(storage: storage, range: 0..<storage.bytes.count, source: path)
    }

    /// Reads a `.npy` file held in memory (the bytes are copied once).
    ///
    /// - Parameters:
    ///   - bytes: The complete `.npy` file.
    ///   - source: The name used in error messages.
    /// - Throws: ``NumPyError``.
    public static func readArray(bytes: [UInt8], source: String = "<memory>") throws(NumPyError) -> Tensor {
        let storage = TensorStorage(copying: bytes)
        return try readArray(storage: storage, range: 0..<bytes.count, source: source)
    }

    /// Reads the `.npy` file that occupies `range` of `storage` (a mapped file, or a member of a mapped archive);
    /// the tensor views `storage` when no conversion is needed.
    ///
    /// - Throws: ``NumPyError``.
    public static func readArray(storage: TensorStorage, range: Range<Int>, source: String) throws(NumPyError) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= storage.bytes.count, "range outside the storage")
        let bytes = UnsafeRawBufferPointer(rebasing: storage.bytes[range])
        let header = try NumPyHeader.read(bytes, source: source, maximumLength: maximumHeaderLength)
        // The header reader proved the byte count does not overflow.
        let expected = header.shape.byteCount(for: header.descr.dtype) ?? Int.max
        let available = bytes.count - header.dataOffset
        guard available >= expected else { throw .truncatedData(source: source, expected: expected, available: available) }
        guard available == expected else { throw .trailingData(source: source, expected: expected, available: available) }
        do {
            return try NumPyArrayDecoder.tensor(storage: storage, offset: range.lowerBound + header.dataOffset,
                                                descr: header.descr, shape: header.shape, fortranOrder: header.fortranOrder)
        } catch {
            throw .invalidShape(source: source, shape: header.shape.description, reason: error.description)
        }
    }

    /// The complete `.npy` bytes for `tensor`, exactly as `np.save` writes them for a C-order array (version 1.0
    /// header, padded so the data starts at a multiple of 64; version 2.0 only if the header needs it).
    ///
    /// - Throws: ``NumPyError/unsupportedDTypeForWriting(_:)`` for bfloat16, which NumPy does not have.
    public static func encode(_ tensor: Tensor) throws(NumPyError) -> [UInt8] {
        var bytes = try header(for: tensor)
        bytes.append(contentsOf: tensor.bytes)
        return bytes
    }

    /// Writes `tensor` to `path` as a `.npy` file, atomically (a crash leaves the old file or none).
    ///
    /// - Throws: ``NumPyError/unsupportedDTypeForWriting(_:)`` for bfloat16, ``NumPyError/fileAccess(_:)`` when
    ///   the file cannot be written.
    public static func writeArray(_ tensor: Tensor, to path: String) throws(NumPyError) {
        let prefix = try header(for: tensor)
        try atomicWrite(to: path) { sink in
            try sink.write(prefix)
            try sink.write(tensor.bytes)
        }
    }

    /// The header bytes (magic through padding) for `tensor`.
    static func header(for tensor: Tensor) throws(NumPyError) -> [UInt8] {
        guard let descr = NumPyDescr.descr(for: tensor.dtype) else { throw .unsupportedDTypeForWriting(tensor.dtype) }
        return NumPyHeader.encode(descr: descr, shape: tensor.shape)
    }

    /// Runs an ``AtomicFileWriter`` write, reporting failures as ``NumPyError``.
    static func atomicWrite(to path: String, _ body: (inout AtomicFileWriter.Sink) throws -> Void) throws(NumPyError) {
        do {
            try AtomicFileWriter.write(to: path, body)
        } catch let error as FileAccessError {
            throw .fileAccess(error)
        } catch let error as NumPyError {
            throw error
        } catch {
            throw .fileAccess(FileAccessError(path: path, operation: "write", reason: "\(error)"))
        }
    }
}
