import ModelKitCore

/// The `modelkit.*` metadata keys that carry a ModelKit model through GGUF, so that files ModelKit writes read back
/// exactly without `--arch` (Specs/interop/gguf.md, "The modelkit.* keys").
///
/// Layers and per-tensor layout facts are one-line JSON objects, one array element each, in the shape the `.mkit`
/// header uses (Specs/format.md section 3), so `gguf_dump` shows them readably and no information is lost.
enum GGUFModelKeys {
    /// `general.architecture` of every file ModelKit writes.
    static let architectureName = "modelkit-dense"
    /// The version of this key set; a reader refuses a larger one.
    static let schemaVersion: UInt32 = 1

    static let version = "modelkit.version"
    static let producer = "modelkit.producer"
    static let sourceFormat = "modelkit.source_format"
    static let inputShape = "modelkit.input_shape"
    static let inputDType = "modelkit.input_dtype"
    static let metadata = "modelkit.metadata"
    static let architecture = "modelkit.architecture"
    static let layers = "modelkit.layers"
    static let tensors = "modelkit.tensors"

    // MARK: - Writing

    /// The metadata entries for `model`, in the fixed order the writer emits them. `layouts` lists each tensor with a
    /// layout tag as it is written (every weight is written `out_in`).
    static func entries(for model: Model, alignment: Int, layouts: [(name: String, layout: WeightLayout, source: LayoutSource?)]) -> [GGUFMetadataEntry] {
        let writer = JSONWriter()
        var entries = [GGUFMetadataEntry(key: "general.architecture", value: .string(architectureName))]
        if !model.info.name.isEmpty { entries.append(.init(key: "general.name", value: .string(model.info.name))) }
        entries.append(.init(key: "general.alignment", value: .uint32(UInt32(alignment))))
        entries.append(.init(key: version, value: .uint32(schemaVersion)))
        entries.append(.init(key: producer, value: .string(model.info.producer)))
        entries.append(.init(key: sourceFormat, value: .string(model.info.sourceFormat)))
        entries.append(.init(key: inputShape, value: .array(.int64, model.info.inputShape.map { .int64(Int64($0 ?? -1)) })))
        entries.append(.init(key: inputDType, value: .string(model.info.inputDType.rawValue)))
        let metadataObject = JSONObject(model.info.metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })
        entries.append(.init(key: metadata, value: .string(writer.string(.object(metadataObject)))))
        if let described = try? Architecture(model: model) {
            entries.append(.init(key: architecture, value: .string(described.description)))
        }
        entries.append(.init(key: layers, value: .array(.string, model.layers.map { .string(writer.string(.object(layerObject($0)))) })))
        entries.append(.init(key: tensors, value: .array(.string, layouts.map { entry in
            var object = JSONObject([("name", .string(entry.name)), ("layout", .string(entry.layout.rawValue))])
            if let source = entry.source { object["layout_source"] = .string(source.rawValue) }
            return .string(writer.string(.object(object)))
        })))
        return entries
    }

    /// A layer as the `.mkit` header writes it: name, kind, attributes, parameters (sorted), then unknown keys.
    static func layerObject(_ layer: Layer) -> JSONObject {
        var object = JSONObject([
            ("name", .string(layer.name)), ("kind", .string(layer.kind.rawValue)), ("attributes", .object(layer.attributes)),
            ("parameters", .object(JSONObject(layer.parameters.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))),
        ])
        for (key, value) in layer.extra where object[key] == nil { object[key] = value }
        return object
    }

    // MARK: - Reading

    /// Whether the file describes its own layers (it was written by ModelKit or carries the same keys).
    static func describesLayers(_ header: GGUFHeader) -> Bool { header[layers] != nil }

    /// Rebuilds the model from the `modelkit.*` keys and the file's tensors (in file order).
    static func model(header: GGUFHeader, tensors: [(name: String, tensor: Tensor)], source: String) throws(GGUFError) -> Model {
        func invalid(_ key: String, _ reason: String) -> GGUFError { .invalidModelKeys(source: source, key: key, reason: reason) }
        if let value = header[version] {
            guard let number = value.integerValue, number >= 1 else { throw invalid(version, "must be a positive integer, not \(value.summary())") }
            guard number <= Int(schemaVersion) else {
                throw invalid(version, "is \(number); this ModelKit reads version \(schemaVersion) of the modelkit.* keys (a newer ModelKit wrote the file)")
            }
        }
        var info = ModelInfo(name: header.name ?? "", producer: try string(header, producer, default: "", source),
                             sourceFormat: try string(header, sourceFormat, default: "unknown", source), inputShape: [])
        if let value = header[inputShape] {
            guard let elements = value.arrayValue, elements.count <= Shape.maximumRank else {
                throw invalid(inputShape, "must be an array of at most \(Shape.maximumRank) integers (-1 for the batch)")
            }
            for element in elements {
                guard let dimension = element.integerValue, dimension >= -1 else {
                    throw invalid(inputShape, "holds \(element.summary()); dimensions are integers ≥ 0, or -1 for a dynamic one")
                }
                info.inputShape.append(dimension == -1 ? nil : dimension)
            }
        }
        let dtypeName = try string(header, inputDType, default: DType.float32.rawValue, source)
        guard let dtype = DType(rawValue: dtypeName) else { throw invalid(inputDType, "\(MessageText.quoted(dtypeName)) is not a ModelKit dtype") }
        info.inputDType = dtype
        let metadataObject = try json(string(header, metadata, default: "{}", source), key: metadata, source).objectValue
        guard let metadataObject else { throw invalid(metadata, "must hold a JSON object of strings") }
        for (key, value) in metadataObject {
            guard let text = value.stringValue else { throw invalid(metadata, "value of \(MessageText.quoted(key)) is a \(value.typeName), not a string") }
            info.metadata[key] = text
        }

        var model = Model(info: info)
        let layouts = try tensorLayouts(header, names: Set(tensors.map(\.name)), source)
        for (name, tensor) in tensors {
            let layout = layouts[name]
            model.addTensor(ModelTensor(name: name, tensor: tensor, layout: layout?.layout, layoutSource: layout?.source))
        }
        var layerNames = Set<String>()
        for (index, element) in try stringArray(header, layers, source).enumerated() {
            let layer = try decodeLayer(element, index: index, source)
            guard layerNames.insert(layer.name).inserted else { throw invalid("\(layers)[\(index)]", "duplicate layer name \(MessageText.quoted(layer.name))") }
            for (role, tensorName) in layer.parameters.sorted(by: { $0.key < $1.key }) where model.tensor(named: tensorName) == nil {
                throw invalid("\(layers)[\(index)]", "layer \(MessageText.quoted(layer.name)) names \(role) tensor \(MessageText.quoted(tensorName)), which the file does not have")
            }
            model.layers.append(layer)
        }
        return model
    }

    private static func decodeLayer(_ text: String, index: Int, _ source: String) throws(GGUFError) -> Layer {
        let key = "\(layers)[\(index)]"
        guard case .object(let object) = try json(text, key: key, source) else {
            throw .invalidModelKeys(source: source, key: key, reason: "must be a JSON object like {\"name\":\"fc1\",\"kind\":\"dense\"}")
        }
        func invalid(_ reason: String) -> GGUFError { .invalidModelKeys(source: source, key: key, reason: reason) }
        guard let name = object["name"]?.stringValue, !name.isEmpty else { throw invalid("needs a non-empty \"name\" string") }
        guard let kindName = object["kind"]?.stringValue, let kind = LayerKind(rawValue: kindName) else {
            throw invalid("layer \(MessageText.quoted(name)) has kind '\(object["kind"]?.stringValue ?? "(missing)")'; "
                          + "known kinds: \(LayerKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var attributes = JSONObject()
        if let value = object["attributes"] {
            guard let attributeObject = value.objectValue else { throw invalid("layer \(MessageText.quoted(name)): \"attributes\" must be an object") }
            attributes = attributeObject
        }
        var parameters: [String: String] = [:]
        if let value = object["parameters"] {
            guard let parameterObject = value.objectValue else { throw invalid("layer \(MessageText.quoted(name)): \"parameters\" must be an object") }
            for (role, tensor) in parameterObject {
                guard let tensorName = tensor.stringValue else { throw invalid("layer \(MessageText.quoted(name)): parameter \(MessageText.quoted(role)) must name a tensor") }
                parameters[role] = tensorName
            }
        }
        return Layer(name: name, kind: kind, attributes: attributes, parameters: parameters,
                     extra: object.removingKeys(["name", "kind", "attributes", "parameters"]))
    }

    private static func tensorLayouts(_ header: GGUFHeader, names: Set<String>,
                                      _ source: String) throws(GGUFError) -> [String: (layout: WeightLayout, source: LayoutSource?)] {
        var result: [String: (layout: WeightLayout, source: LayoutSource?)] = [:]
        for (index, text) in try stringArray(header, tensors, source).enumerated() {
            let key = "\(tensors)[\(index)]"
            func invalid(_ reason: String) -> GGUFError { .invalidModelKeys(source: source, key: key, reason: reason) }
            let object = try json(text, key: key, source)
            guard let name = object["name"]?.stringValue, names.contains(name) else {
                throw invalid("\"name\" must name a tensor of the file, not '\(object["name"]?.stringValue ?? "(missing)")'")
            }
            guard let layoutName = object["layout"]?.stringValue, let layout = WeightLayout(rawValue: layoutName) else {
                throw invalid("tensor \(MessageText.quoted(name)): \"layout\" must be \"out_in\" or \"in_out\"")
            }
            var layoutSource: LayoutSource?
            if let value = object["layout_source"] {
                guard let sourceName = value.stringValue, let parsed = LayoutSource(rawValue: sourceName) else {
                    throw invalid("tensor \(MessageText.quoted(name)): \"layout_source\" must be shape, convention or declared")
                }
                layoutSource = parsed
            }
            result[name] = (layout, layoutSource)
        }
        return result
    }

    // MARK: - Typed access

    private static func string(_ header: GGUFHeader, _ key: String, default fallback: String, _ source: String) throws(GGUFError) -> String {
        guard let value = header[key] else { return fallback }
        guard let text = value.stringValue else {
            throw .invalidModelKeys(source: source, key: key, reason: "must be a STRING, not \(value.type)")
        }
        return text
    }

    private static func stringArray(_ header: GGUFHeader, _ key: String, _ source: String) throws(GGUFError) -> [String] {
        guard let value = header[key] else { return [] }
        guard case .array(let type, let elements) = value, type == .string || elements.isEmpty else {
            throw .invalidModelKeys(source: source, key: key, reason: "must be an ARRAY of STRING, not \(value.type)")
        }
        return elements.compactMap(\.stringValue)
    }

    private static func json(_ text: String, key: String, _ source: String) throws(GGUFError) -> JSONValue {
        do { return try JSONValue.parse(text) } catch {
            throw .invalidModelKeys(source: source, key: key, reason: "not valid JSON: \(error)")
        }
    }
}
