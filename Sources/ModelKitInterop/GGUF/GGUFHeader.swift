import ModelKitCore

/// One tensor info of a GGUF file: where a tensor's bytes are and what they hold.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name, unique in the file (`blk.0.attn_q.weight`, `fc1.weight`).
    public var name: String
    /// The dimensions as the file lists them: **fastest-varying first** (ggml's `ne[0]` is the contiguous axis).
    /// This is the reverse of NumPy and PyTorch; see ``shape``.
    public var dimensions: [Int]
    /// How the elements are stored (F32, Q8_0, …).
    public var type: GGUFTensorType
    /// The offset of the bytes from the start of the data section (what the file stores).
    public var offset: Int
    /// The offset of the bytes from the start of the file.
    public var fileOffset: Int
    /// The number of elements (1 for a tensor with no dimensions).
    public var elementCount: Int
    /// The number of bytes in the file, or `nil` when the type is unknown.
    public var byteCount: Int?

    /// The row-major shape (outermost first, as ModelKit, NumPy and PyTorch write it): ``dimensions`` reversed.
    /// A GGUF weight listed as `[in, out]` is the row-major `[out, in]` matrix PyTorch's `nn.Linear` stores.
    public var shape: Shape { Shape(dimensions.reversed()) }

    /// Makes a tensor info; ``GGUFFormat/readHeader(path:)`` makes checked ones from a file.
    public init(name: String, dimensions: [Int], type: GGUFTensorType, offset: Int, fileOffset: Int,
                elementCount: Int, byteCount: Int?) {
        self.name = name
        self.dimensions = dimensions
        self.type = type
        self.offset = offset
        self.fileOffset = fileOffset
        self.elementCount = elementCount
        self.byteCount = byteCount
    }
}

/// Everything a GGUF file says before its data section: version, metadata and tensor infos.
///
/// ``GGUFFormat/readHeader(path:)`` reads it without touching the tensor data, so even a file of many gigabytes is
/// described in milliseconds.
///
/// ```swift
/// let header = try GGUFFormat.readHeader(path: "llama.gguf")
/// header.architecture                      // "llama"
/// header.tensors.map { "\($0.name) \($0.type) \($0.shape)" }
/// ```
public struct GGUFHeader: Sendable {
    /// The format version: 2 or 3 (identical layouts for little-endian files).
    public var version: UInt32
    /// `general.alignment`, or 32 when absent.
    public var alignment: Int
    /// The metadata in file order.
    public var metadata: [GGUFMetadataEntry]
    /// The tensor infos in file order.
    public var tensors: [GGUFTensorInfo]
    /// Where the data section starts: the end of the tensor infos rounded up to ``alignment``.
    public var dataOffset: Int
    /// The size of the file in bytes.
    public var fileSize: Int
    private var indexByKey: [String: Int]

    /// Makes a header; ``GGUFFormat/readHeader(path:)`` makes checked ones from a file.
    public init(version: UInt32, alignment: Int, metadata: [GGUFMetadataEntry], tensors: [GGUFTensorInfo],
                dataOffset: Int, fileSize: Int) {
        self.version = version
        self.alignment = alignment
        self.metadata = metadata
        self.tensors = tensors
        self.dataOffset = dataOffset
        self.fileSize = fileSize
        var index: [String: Int] = [:]
        for (position, entry) in metadata.enumerated() where index[entry.key] == nil { index[entry.key] = position }
        self.indexByKey = index
    }

    /// The value of metadata `key`.
    public subscript(key: String) -> GGUFValue? { indexByKey[key].map { metadata[$0].value } }

    /// `general.architecture` (`llama`, `modelkit-dense`, …).
    public var architecture: String? { self["general.architecture"]?.stringValue }

    /// `general.name`.
    public var name: String? { self["general.name"]?.stringValue }

    /// The bytes from the start of the data section to the end of the file.
    public var dataSize: Int { max(0, fileSize - dataOffset) }

    /// The tensor info called `name`.
    public func tensor(named name: String) -> GGUFTensorInfo? { tensors.first { $0.name == name } }
}
