import ModelKitCore

/// Converts between ``ModelHeader`` and the header's JSON (Specs/format.md section 3), with a fixed key order (W3)
/// and unknown keys preserved (H8).
public enum HeaderCodec {
    /// Which form the header belongs to: the binary form has offsets and checksums, the JSON form has values.
    public enum Form: Sendable { case binary, json }

    static let topKeys: Set<String> = ["format", "version", "model", "layers", "tensors", "data_size"]
    static let modelKeys: Set<String> = ["name", "producer", "source_format", "input", "metadata"]
    static let layerKeys: Set<String> = ["name", "kind", "attributes", "parameters"]
    static let tensorKeys: Set<String> = ["name", "dtype", "shape", "layout", "layout_source", "offset", "length",
                                          "encoding", "crc32", "values", "chunks"]

    // MARK: Encoding

    /// The header object. For the JSON form, `values` gives each tensor's inline values (same order as `tensors`).
    public static func encode(_ header: ModelHeader, form: Form, values: [JSONValue] = []) -> JSONObject {
        var top = JSONObject()
        if form == .json {
            top["format"] = .string("modelkit-json")
            // The JSON form holds values, never compressed encodings, so it is always a 1.0 document.
            top["version"] = .string("\(FormatVersion.current.major).0")
        }
        top["model"] = .object(encode(header.info))
        top["layers"] = .array(header.layers.map { .object(encode($0)) })
        top["tensors"] = .array(header.tensors.enumerated().map { index, tensor in
            .object(encode(tensor, form: form, values: index < values.count ? values[index] : nil))
        })
        if form == .binary { top["data_size"] = .integer(header.dataSize) }
        for (key, value) in header.extra where top[key] == nil { top[key] = value }
        return top
    }

    static func encode(_ info: ModelInfo) -> JSONObject {
        var object = JSONObject()
        object["name"] = .string(info.name)
        object["producer"] = .string(info.producer)
        object["source_format"] = .string(info.sourceFormat)
        object["input"] = .object(JSONObject([
            ("shape", .array(info.inputShape.map { $0.map { JSONValue.integer($0) } ?? .null })),
            ("dtype", .string(info.inputDType.rawValue)),
        ]))
        object["metadata"] = .object(JSONObject(info.metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        for (key, value) in info.extra where object[key] == nil { object[key] = value }
        return object
    }

    static func encode(_ layer: Layer) -> JSONObject {
        var object = JSONObject()
        object["name"] = .string(layer.name)
        object["kind"] = .string(layer.kind.rawValue)
        object["attributes"] = .object(layer.attributes)
        object["parameters"] = .object(JSONObject(layer.parameters.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        for (key, value) in layer.extra where object[key] == nil { object[key] = value }
        return object
    }

    static func encode(_ tensor: TensorDescriptor, form: Form, values: JSONValue?) -> JSONObject {
        var object = JSONObject()
        object["name"] = .string(tensor.name)
        object["dtype"] = .string(tensor.dtype.rawValue)
        object["shape"] = .array(tensor.shape.dimensions.map { .integer($0) })
        if let layout = tensor.layout { object["layout"] = .string(layout.rawValue) }
        if let source = tensor.layoutSource { object["layout_source"] = .string(source.rawValue) }
        if form == .binary {
            object["offset"] = .integer(tensor.offset)
            object["length"] = .integer(tensor.length)
        }
        object["encoding"] = .string(tensor.encoding)
        if form == .binary { object["crc32"] = .string(CRC32.hex(tensor.crc32)) }
        if form == .binary && !tensor.chunks.isEmpty {
            object["chunks"] = .array(tensor.chunks.map { chunk in
                .object(JSONObject([("length", .integer(chunk.length)), ("raw_length", .integer(chunk.rawLength)),
                                    ("crc32", .string(CRC32.hex(chunk.crc32)))]))
            })
        }
        if let values { object["values"] = values }
        for (key, value) in tensor.extra where object[key] == nil { object[key] = value }
        return object
    }

    // MARK: Decoding

    /// Reads a header object. In the JSON form, also returns each tensor's `values` (in `tensors` order).
    public static func decode(_ value: JSONValue, form: Form) throws(ModelFileError) -> (header: ModelHeader, values: [JSONValue]) {
        guard case .object(let top) = value else { throw invalid("the header is a \(value.typeName), not an object") }
        let info = try decodeInfo(try member(top, "model", in: "header"))
        guard case .array(let layerValues) = try member(top, "layers", in: "header") else { throw invalid("'layers' must be a list") }
        guard case .array(let tensorValues) = try member(top, "tensors", in: "header") else { throw invalid("'tensors' must be a list") }
        var layers: [Layer] = []
        for (index, layerValue) in layerValues.enumerated() { layers.append(try decodeLayer(layerValue, index: index)) }
        var tensors: [TensorDescriptor] = []
        var values: [JSONValue] = []
        for (index, tensorValue) in tensorValues.enumerated() {
            let (descriptor, inline) = try decodeTensor(tensorValue, index: index, form: form)
            tensors.append(descriptor)
            if let inline { values.append(inline) }
        }
        var dataSize = 0
        if form == .binary { dataSize = try integer(try member(top, "data_size", in: "header"), "data_size") }
        let header = ModelHeader(info: info, layers: layers, tensors: tensors, dataSize: dataSize,
                                 extra: top.removingKeys(topKeys))
        return (header, values)
    }

    static func decodeInfo(_ value: JSONValue) throws(ModelFileError) -> ModelInfo {
        guard case .object(let object) = value else { throw invalid("'model' must be an object") }
        let input = object["input"]?.objectValue ?? JSONObject()
        var shape: [Int?] = []
        if let dims = input["shape"] {
            guard case .array(let list) = dims, list.count <= Shape.maximumRank else {
                throw invalid("model.input.shape must be a list of at most \(Shape.maximumRank) dimensions")
            }
            for dim in list {
                if dim.isNull { shape.append(nil) } else { shape.append(try integer(dim, "model.input.shape")) }
            }
        }
        var inputDType = DType.float32
        if let name = input["dtype"]?.stringValue {
            guard let dtype = DType(rawValue: name) else { throw invalid("model.input.dtype \(MessageText.quoted(name)) is not a known dtype") }
            inputDType = dtype
        }
        var metadata: [String: String] = [:]
        if let meta = object["metadata"] {
            guard case .object(let pairs) = meta else { throw invalid("model.metadata must be an object") }
            for (key, item) in pairs {
                guard let text = item.stringValue else { throw invalid("model.metadata[\(MessageText.quoted(key))] must be a string (H9)") }
                metadata[key] = text
            }
        }
        return ModelInfo(name: object["name"]?.stringValue ?? "", producer: object["producer"]?.stringValue ?? "",
                         sourceFormat: object["source_format"]?.stringValue ?? "unknown", inputShape: shape,
                         inputDType: inputDType, metadata: metadata, extra: object.removingKeys(modelKeys))
    }

    static func decodeLayer(_ value: JSONValue, index: Int) throws(ModelFileError) -> Layer {
        guard case .object(let object) = value else { throw invalid("layers[\(index)] must be an object") }
        guard let name = object["name"]?.stringValue, !name.isEmpty else { throw invalid("layers[\(index)] needs a non-empty 'name' (H1)") }
        guard let kindName = object["kind"]?.stringValue else { throw invalid("layer \(MessageText.quoted(name)) needs a 'kind' (H1)") }
        guard let kind = LayerKind(rawValue: kindName) else {
            throw ModelFileError(.unsupported, "layer \(MessageText.quoted(name)) has kind \(MessageText.quoted(kindName)), which this version does not know; known kinds: \(LayerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var attributes = JSONObject()
        if let attributeValue = object["attributes"] {
            guard case .object(let attributeObject) = attributeValue else { throw invalid("layer \(MessageText.quoted(name)): 'attributes' must be an object") }
            attributes = attributeObject
        }
        var parameters: [String: String] = [:]
        if let parameterValue = object["parameters"] {
            guard case .object(let pairs) = parameterValue else { throw invalid("layer \(MessageText.quoted(name)): 'parameters' must be an object") }
            for (role, tensorName) in pairs {
                guard let text = tensorName.stringValue else { throw invalid("layer \(MessageText.quoted(name)): parameter \(MessageText.quoted(role)) must name a tensor") }
                parameters[role] = text
            }
        }
        return Layer(name: name, kind: kind, attributes: attributes, parameters: parameters, extra: object.removingKeys(layerKeys))
    }

    static func decodeTensor(_ value: JSONValue, index: Int, form: Form) throws(ModelFileError) -> (TensorDescriptor, JSONValue?) {
        guard case .object(let object) = value else { throw invalid("tensors[\(index)] must be an object") }
        guard let name = object["name"]?.stringValue, !name.isEmpty else { throw invalid("tensors[\(index)] needs a non-empty 'name' (H1)") }
        let where_ = "tensor \(MessageText.quoted(name))"
        guard let dtypeName = try member(object, "dtype", in: where_).stringValue, let dtype = DType(rawValue: dtypeName) else {
            throw invalid("\(where_): 'dtype' must be one of \(DType.allCases.map(\.rawValue).joined(separator: ", ")) (H3)")
        }
        guard case .array(let dims) = try member(object, "shape", in: where_), dims.count <= Shape.maximumRank else {
            throw invalid("\(where_): 'shape' must be a list of at most \(Shape.maximumRank) dimensions (H4)")
        }
        var dimensions: [Int] = []
        for dim in dims { dimensions.append(try integer(dim, "\(where_) shape")) }
        let shape = Shape(dimensions)
        guard shape.byteCount(for: dtype) != nil else {
            throw invalid("\(where_): shape \(shape) of \(dtype.rawValue) has more elements than can exist (overflow) (H4)")
        }
        var layout: WeightLayout?
        if let layoutValue = object["layout"], !layoutValue.isNull {
            guard let text = layoutValue.stringValue, let parsed = WeightLayout(rawValue: text) else {
                throw invalid("\(where_): 'layout' must be \"in_out\" or \"out_in\" (H6)")
            }
            layout = parsed
        }
        var layoutSource: LayoutSource?
        if let sourceValue = object["layout_source"], !sourceValue.isNull {
            guard let text = sourceValue.stringValue, let parsed = LayoutSource(rawValue: text) else {
                throw invalid("\(where_): 'layout_source' must be \"shape\", \"convention\" or \"declared\" (H6)")
            }
            layoutSource = parsed
        }
        let encoding = object["encoding"]?.stringValue ?? "raw"
        var descriptor = TensorDescriptor(name: name, dtype: dtype, shape: shape, layout: layout, layoutSource: layoutSource,
                                          encoding: encoding, extra: object.removingKeys(tensorKeys))
        guard form == .binary else {
            return (descriptor, try member(object, "values", in: where_))
        }
        guard object["encoding"] != nil else { throw invalid("\(where_) needs 'encoding' (H1)") }
        descriptor.offset = try integer(try member(object, "offset", in: where_), "\(where_) offset")
        descriptor.length = try integer(try member(object, "length", in: where_), "\(where_) length")
        guard let crcText = try member(object, "crc32", in: where_).stringValue, crcText.count == 8,
              let crc = UInt32(crcText, radix: 16) else {
            throw invalid("\(where_): 'crc32' must be 8 hex digits (C2)")
        }
        descriptor.crc32 = crc
        if let chunkValue = object["chunks"] {
            guard case .array(let chunkList) = chunkValue else { throw invalid("\(where_): 'chunks' must be a list (Z1)") }
            for (index, chunk) in chunkList.enumerated() {
                guard let length = chunk["length"], let rawLength = chunk["raw_length"],
                      let chunkCRC = chunk["crc32"]?.stringValue, chunkCRC.count == 8, let crcValue = UInt32(chunkCRC, radix: 16) else {
                    throw invalid("\(where_): chunk \(index) needs 'length', 'raw_length' and an 8-digit 'crc32' (Z1)")
                }
                descriptor.chunks.append(ChunkDescriptor(length: try integer(length, "\(where_) chunk \(index) length"),
                                                         rawLength: try integer(rawLength, "\(where_) chunk \(index) raw_length"),
                                                         crc32: crcValue))
            }
        }
        return (descriptor, nil)
    }

    static func member(_ object: JSONObject, _ key: String, in place: String) throws(ModelFileError) -> JSONValue {
        guard let value = object[key] else { throw invalid("\(place) is missing \(MessageText.quoted(key)) (H1)") }
        return value
    }

    static func integer(_ value: JSONValue, _ what: String) throws(ModelFileError) -> Int {
        guard case .number(let text) = value, let number = Int(text), number >= 0 else {
            throw invalid("\(what) must be a non-negative integer that fits in 64 bits")
        }
        return number
    }

    static func invalid(_ message: String) -> ModelFileError { ModelFileError(.corrupt, "invalid header: \(message)") }
}

/// The format version this library reads and writes.
public struct FormatVersion: Sendable, Equatable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    /// The newest version written: 1.1 adds compressed encodings (Specs/checkpoint.md); files without them are 1.0.
    public static let current = FormatVersion(major: 1, minor: 1)
    public var description: String { "\(major).\(minor)" }
}
