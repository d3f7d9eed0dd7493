import ModelKitCore

/// Reads and writes the JSON form of a model: the header with every tensor's values inline (Specs/format.md section 5).
public enum ModelJSONForm {
    /// The largest JSON-form file read (J5).
    public static let maximumFileSize = 1 << 30

    /// Reads a `.json` model file.
    public static func read(path: String) throws(ModelFileError) -> LoadedModel {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw ModelFileError(.io, error.reason, path: path) }
        do { return try read(bytes: storage.bytes) } catch { throw error.at(path) }
    }

    /// Reads a JSON-form model from bytes.
    public static func read(bytes: UnsafeRawBufferPointer) throws(ModelFileError) -> LoadedModel {
        guard bytes.count <= maximumFileSize else {
            throw ModelFileError(.unsupported, "JSON-form file of \(bytes.count) bytes is over the \(maximumFileSize)-byte limit; use the binary .mkit form (J5)")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes.assumingMemoryBound(to: UInt8.self))
        } catch {
            let detected = FileSniffer.detect(bytes)
            if detected != .json && detected != .modelKitJSON {
                throw ModelFileError(.notThisFormat, "not a ModelKit JSON model: it looks like \(detected.rawValue)")
            }
            throw ModelFileError(.corrupt, "not valid JSON: \(error)")
        }
        guard json["format"]?.stringValue == "modelkit-json" else {
            throw ModelFileError(.notThisFormat, "not a ModelKit JSON model: the top-level \"format\" is not \"modelkit-json\" (J1)")
        }
        try checkVersion(json["version"])
        let (header, values) = try HeaderCodec.decode(json, form: .json)
        var model = Model(info: header.info, layers: header.layers, extra: header.extra)
        var notes: [String] = []
        for (descriptor, value) in zip(header.tensors, values) {
            guard model.tensor(named: descriptor.name) == nil else {
                throw ModelFileError(.corrupt, "invalid header: tensor name \(MessageText.quoted(descriptor.name)) is used twice (H2)")
            }
            guard descriptor.encoding == "raw" else {
                throw ModelFileError(.unsupported, "tensor \(MessageText.quoted(descriptor.name)): the JSON form holds values, so its encoding must be 'raw', not \(MessageText.quoted(descriptor.encoding))")
            }
            let tensor = try TensorValueText.decode(value, name: descriptor.name, dtype: descriptor.dtype, shape: descriptor.shape)
            if tensor.hasNonFiniteValues { notes.append("tensor \(MessageText.quoted(descriptor.name)) contains NaN or infinite values") }
            model.addTensor(ModelTensor(name: descriptor.name, tensor: tensor, layout: descriptor.layout,
                                        layoutSource: descriptor.layoutSource, extra: descriptor.extra))
        }
        try MKitReader.checkReferences(model)
        let version = json["version"]?.stringValue ?? "?"
        return LoadedModel(model: model, formatName: "ModelKit JSON", formatVersion: version, fileSize: bytes.count,
                           headerChecksum: .absent, notes: notes)
    }

    static func checkVersion(_ value: JSONValue?) throws(ModelFileError) {
        guard let text = value?.stringValue else { throw ModelFileError(.corrupt, "invalid header: missing \"version\" (V2)") }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), minor >= 0 else {
            throw ModelFileError(.corrupt, "invalid header: version \"\(text)\" is not MAJOR.MINOR (V2)")
        }
        try MKitReader.checkVersion(major: major, minor: minor)
    }

    /// The JSON text of `model` (indented, values packed to the line width).
    public static func encode(_ model: Model) -> [UInt8] {
        let descriptors = model.tensors.map {
            TensorDescriptor(name: $0.name, dtype: $0.tensor.dtype, shape: $0.tensor.shape, layout: $0.layout,
                             layoutSource: $0.layoutSource, extra: $0.extra)
        }
        let header = ModelHeader(info: model.info, layers: model.layers, tensors: descriptors, dataSize: 0, extra: model.extra)
        let values = model.tensors.map { TensorValueText.encode($0.tensor) }
        var bytes = JSONWriter(indent: 2).bytes(.object(HeaderCodec.encode(header, form: .json, values: values)))
        bytes.append(0x0A)
        return bytes
    }

    /// Writes `model` as a `.json` file atomically.
    public static func write(_ model: Model, to path: String) throws {
        try AtomicFileWriter.write(encode(model), to: path)
    }
}
