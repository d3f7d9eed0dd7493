import ModelKitCore

/// One entry of a header's `tensors` list: everything about a tensor except its bytes.
public struct TensorDescriptor: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: Shape
    public var layout: WeightLayout?
    public var layoutSource: LayoutSource?
    /// Offset in the data section (binary form only).
    public var offset: Int
    /// Stored byte count (binary form only).
    public var length: Int
    public var encoding: String
    /// CRC-32 of the stored bytes (binary form only).
    public var crc32: UInt32
    /// The chunks of a compressed encoding (Specs/checkpoint.md Z1–Z3); empty for `raw`.
    public var chunks: [ChunkDescriptor]
    /// Keys this version does not know (Specs/format.md H8).
    public var extra: JSONObject

    public init(name: String, dtype: DType, shape: Shape, layout: WeightLayout? = nil, layoutSource: LayoutSource? = nil,
                offset: Int = 0, length: Int = 0, encoding: String = "raw", crc32: UInt32 = 0, chunks: [ChunkDescriptor] = [],
                extra: JSONObject = JSONObject()) {
        self.chunks = chunks
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.layout = layout
        self.layoutSource = layoutSource
        self.offset = offset
        self.length = length
        self.encoding = encoding
        self.crc32 = crc32
        self.extra = extra
    }
}

/// One compressed chunk of a tensor: its stored size, its decoded size, and the CRC-32 of its decoded bytes.
public struct ChunkDescriptor: Sendable, Equatable {
    public var length: Int
    public var rawLength: Int
    public var crc32: UInt32

    public init(length: Int, rawLength: Int, crc32: UInt32) {
        self.length = length
        self.rawLength = rawLength
        self.crc32 = crc32
    }
}

/// The parts of a header other than the tensors' bytes.
public struct ModelHeader: Sendable, Equatable {
    public var info: ModelInfo
    public var layers: [Layer]
    public var tensors: [TensorDescriptor]
    /// `data_size` of the binary form.
    public var dataSize: Int
    /// Unknown top-level keys.
    public var extra: JSONObject

    public init(info: ModelInfo, layers: [Layer], tensors: [TensorDescriptor], dataSize: Int, extra: JSONObject) {
        self.info = info
        self.layers = layers
        self.tensors = tensors
        self.dataSize = dataSize
        self.extra = extra
    }
}
