import ModelKitCore
import ModelKitFormat

/// Lays out a model as a GGUF v3 file: header, metadata, tensor infos, padding, then each tensor's bytes padded to
/// the alignment (the layout gguf-py's `GGUFWriter` produces, last tensor padded too).
///
/// Dense weights are written in PyTorch's `[out, in]` layout, so their GGUF dimensions are `[in, out]`, the
/// orientation llama.cpp uses for its matrices; an `in_out` weight is transposed once on the way out.
struct GGUFEncoder {
    /// ggml's `GGML_MAX_NAME` is 64 bytes including the terminating NUL.
    static let maximumNameLength = 63

    struct Entry {
        var name: String
        var tensor: Tensor
        var type: GGUFTensorType
    }

    /// Everything before the data section, padding included.
    let header: [UInt8]
    /// The tensors in file order, as written.
    let entries: [Entry]
    let alignment: Int

    /// Prepares `model` for writing.
    ///
    /// - Throws: ``GGUFError/cannotWrite(subject:reason:)`` for a tensor GGUF cannot hold (uint8/bool, more than 4
    ///   dimensions, a name ggml cannot take) or an alignment that is not a power of two from 8 to 65536.
    init(model: Model, alignment: Int) throws(GGUFError) {
        guard alignment >= 8, alignment <= 65_536, alignment & (alignment - 1) == 0 else {
            throw .cannotWrite(subject: "alignment \(alignment)", reason: "must be a power of two from 8 to 65536 (GGUF's default is 32)")
        }
        var entries: [Entry] = []
        var layouts: [(name: String, layout: WeightLayout, source: LayoutSource?)] = []
        for modelTensor in model.tensors {
            let name = modelTensor.name
            func fail(_ reason: String) -> GGUFError { .cannotWrite(subject: "tensor \(MessageText.quoted(name))", reason: reason) }
            guard !name.isEmpty, name.utf8.count <= Self.maximumNameLength else {
                throw fail("the name is \(name.utf8.count) bytes; GGUF tensor names (ggml) are 1 to \(Self.maximumNameLength) bytes; rename it")
            }
            var tensor = modelTensor.tensor
            guard let type = GGUFTensorType(storing: tensor.dtype) else {
                throw fail("dtype \(tensor.dtype.rawValue) has no GGUF tensor type (ggml has none for uint8 or bool); convert it to int8 or float32, or remove it")
            }
            guard tensor.shape.rank <= GGUFHeaderParser.maximumDimensions else {
                throw fail("shape \(tensor.shape) has \(tensor.shape.rank) dimensions; GGUF (ggml) allows at most \(GGUFHeaderParser.maximumDimensions)")
            }
            if let layout = modelTensor.layout {
                if layout == .inOut {
                    do { tensor = try tensor.transposed2D() } catch {
                        throw fail("an in_out weight must be a matrix to be written [out, in], but its shape is \(tensor.shape)")
                    }
                }
                layouts.append((name, .outIn, modelTensor.layoutSource))
            }
            entries.append(Entry(name: name, tensor: tensor, type: type))
        }
        let metadata = GGUFModelKeys.entries(for: model, alignment: alignment, layouts: layouts)
        self.header = GGUFEncoder.encodeHeader(metadata: metadata, entries: entries, alignment: alignment)
        self.entries = entries
        self.alignment = alignment
    }

    /// Zero bytes that follow `count` bytes to reach the next multiple of the alignment.
    func padding(after count: Int) -> Int { (alignment - count % alignment) % alignment }

    /// The whole file in memory.
    func bytes() -> [UInt8] {
        var output = header
        for entry in entries {
            output.append(contentsOf: entry.tensor.bytes)
            output.append(contentsOf: repeatElement(0, count: padding(after: entry.tensor.byteCount)))
        }
        return output
    }

    /// Writes the file through an atomic writer's sink.
    func write(to sink: inout AtomicFileWriter.Sink) throws {
        try sink.write(header)
        for entry in entries {
            try sink.write(entry.tensor.bytes)
            try sink.writeZeros(padding(after: entry.tensor.byteCount))
        }
    }

    // MARK: - Serialization

    private static func encodeHeader(metadata: [GGUFMetadataEntry], entries: [Entry], alignment: Int) -> [UInt8] {
        var output: [UInt8] = []
        output.append(contentsOf: GGUFHeaderParser.magic)
        append(UInt32(3), to: &output)
        append(UInt64(entries.count), to: &output)
        append(UInt64(metadata.count), to: &output)
        for entry in metadata {
            appendString(entry.key, to: &output)
            append(entry.value.type.rawValue, to: &output)
            appendValue(entry.value, to: &output)
        }
        var offset = 0
        for entry in entries {
            appendString(entry.name, to: &output)
            let dimensions = entry.tensor.shape.dimensions.reversed()  // GGUF lists the fastest-varying axis first
            append(UInt32(dimensions.count), to: &output)
            for dimension in dimensions { append(UInt64(dimension), to: &output) }
            append(entry.type.rawValue, to: &output)
            append(UInt64(offset), to: &output)
            offset += entry.tensor.byteCount + (alignment - entry.tensor.byteCount % alignment) % alignment
        }
        output.append(contentsOf: repeatElement(0, count: (alignment - output.count % alignment) % alignment))
        return output
    }

    private static func appendValue(_ value: GGUFValue, to output: inout [UInt8]) {
        switch value {
        case .uint8(let v): output.append(v)
        case .int8(let v): output.append(UInt8(bitPattern: v))
        case .uint16(let v): append(v, to: &output)
        case .int16(let v): append(v, to: &output)
        case .uint32(let v): append(v, to: &output)
        case .int32(let v): append(v, to: &output)
        case .uint64(let v): append(v, to: &output)
        case .int64(let v): append(v, to: &output)
        case .float32(let v): append(v.bitPattern, to: &output)
        case .float64(let v): append(v.bitPattern, to: &output)
        case .bool(let v): output.append(v ? 1 : 0)
        case .string(let text): appendString(text, to: &output)
        case .array(let type, let elements):
            append(type.rawValue, to: &output)
            append(UInt64(elements.count), to: &output)
            for element in elements { appendValue(element, to: &output) }
        }
    }

    private static func appendString(_ text: String, to output: inout [UInt8]) {
        append(UInt64(text.utf8.count), to: &output)
        output.append(contentsOf: text.utf8)
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to output: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { output.append(contentsOf: $0) }
    }
}
