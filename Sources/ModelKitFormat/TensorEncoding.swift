import ModelKitCore

/// Turns a tensor's stored bytes into a ``Tensor`` according to its `encoding` (Specs/format.md H5).
public enum TensorEncoding {
    /// Encodings this version reads.
    public static let known: Set<String> = ["raw", ShuffleZlibEncoding.name]

    /// Decodes `payload` (a view of `storage` at `storageOffset`). `raw` tensors view the storage without copying.
    static func decode(_ descriptor: TensorDescriptor, payload: UnsafeRawBufferPointer, storage: TensorStorage,
                       storageOffset: Int) throws(ModelFileError) -> Tensor {
        guard let expected = descriptor.shape.byteCount(for: descriptor.dtype) else {
            throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(descriptor.name)) shape \(descriptor.shape) overflows (H4)")
        }
        if descriptor.encoding == "raw" && !descriptor.chunks.isEmpty {
            throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(descriptor.name)): a raw tensor has no chunks (Z1)")
        }
        switch descriptor.encoding {
        case "raw":
            guard descriptor.length == expected else {
                throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(descriptor.name)): \(descriptor.dtype.rawValue) \(descriptor.shape) needs \(expected) bytes, the header says \(descriptor.length) (H4)")
            }
            do {
                return try Tensor(dtype: descriptor.dtype, shape: descriptor.shape, storage: storage, byteOffset: storageOffset)
            } catch {
                throw ModelFileError(.corrupt, "tensor \(MessageText.quoted(descriptor.name)): \(error)")
            }
        case ShuffleZlibEncoding.name:
            return try ShuffleZlibEncoding.decode(descriptor, payload: payload)
        default:
            throw ModelFileError(.unsupported, "tensor \(MessageText.quoted(descriptor.name)) uses encoding \(MessageText.quoted(descriptor.encoding)), which this version does not read (H5); known: \(known.sorted().joined(separator: ", "))")
        }
    }
}
