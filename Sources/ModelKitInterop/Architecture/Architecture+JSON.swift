import ModelKitCore
import ModelKitFormat

/// The JSON list form: `[{"type":"dense","in":400,"out":200,"activation":"relu"}, …]`.
extension Architecture {
    /// The largest architecture file read.
    public static let maximumFileSize = 16 << 20

    /// Reads an architecture from the value of `--arch`: a path ending in `.json` is read as a file holding the
    /// JSON list form, text starting with `[` is the JSON list form itself, anything else is the string form.
    ///
    /// - Throws: ``ArchitectureError`` naming the token, list element or file.
    public static func fromArgument(_ argument: String) throws(ArchitectureError) -> Architecture {
        let trimmed = String(argument.drop { $0.isWhitespace })
        if trimmed.hasPrefix("[") { return try Architecture(jsonText: trimmed, source: "architecture JSON") }
        if trimmed.lowercased().hasSuffix(".json") { return try load(path: trimmed) }
        return try Architecture(parsing: argument)
    }

    /// Reads a JSON file holding the list form.
    ///
    /// - Throws: ``ArchitectureError/cannotRead(path:reason:)`` or ``ArchitectureError/json(source:element:reason:)``.
    public static func load(path: String) throws(ArchitectureError) -> Architecture {
        let storage: TensorStorage
        do { storage = try MappedFile.open(path) } catch { throw .cannotRead(path: path, reason: error.reason) }
        guard storage.bytes.count <= maximumFileSize else {
            throw .cannotRead(path: path, reason: "\(storage.bytes.count) bytes is more than an architecture file may have (\(maximumFileSize))")
        }
        let value: JSONValue
        do { value = try JSONParser.parse(storage.bytes.assumingMemoryBound(to: UInt8.self)) } catch {
            throw .json(source: path, element: nil, reason: "not valid JSON: \(error)")
        }
        return try Architecture(json: value, source: path)
    }

    /// Parses the JSON list form from text.
    public init(jsonText: String, source: String = "architecture JSON") throws(ArchitectureError) {
        let value: JSONValue
        do { value = try JSONValue.parse(jsonText) } catch {
            throw .json(source: source, element: nil, reason: "not valid JSON: \(error)")
        }
        try self.init(json: value, source: source)
    }

    /// Parses the JSON list form.
    ///
    /// Each element is either a dense layer, `{"type":"dense","in":IN,"out":OUT}` with optional `"activation"`
    /// (`"none"` for an affine layer; `"alpha"` for `leaky_relu`, `"approximate"` for `gelu`, `"rate"` for
    /// `dropout`) and `"bias": false`, or a further activation for the dense layer before it, `{"type":"dropout",
    /// "rate":0.5}`. `source` names the document in errors.
    ///
    /// - Throws: ``ArchitectureError/json(source:element:reason:)`` naming the element.
    public init(json: JSONValue, source: String) throws(ArchitectureError) {
        guard case .array(let elements) = json else {
            throw .json(source: source, element: nil,
                        reason: "the architecture must be a JSON list like [{\"type\":\"dense\",\"in\":4,\"out\":2,\"activation\":\"relu\"}], not a \(json.typeName)")
        }
        var layers: [Dense] = []
        for (offset, element) in elements.enumerated() {
            let number = offset + 1
            func fail(_ reason: String) -> ArchitectureError { .json(source: source, element: number, reason: reason) }
            guard case .object(let object) = element else {
                throw fail("is a \(element.typeName), not an object like {\"type\":\"dense\",\"in\":4,\"out\":2}")
            }
            guard let type = object["type"]?.stringValue?.lowercased() else {
                throw fail("has no \"type\" string (\"dense\" or an activation such as \"relu\")")
            }
            if type == "dense" || type == "linear" {
                let activationName = try Architecture.activationName(object["activation"], fail)
                let activation = try Architecture.activation(named: activationName, parameters: object, fail)
                try Architecture.checkKeys(object, allowed: ["type", "in", "out", "bias", "activation"]
                                           + Architecture.parameterKeys(activationName), fail)
                let input = try Architecture.count(object["in"], "in", fail)
                let output = try Architecture.count(object["out"], "out", fail)
                var hasBias = true
                if let bias = object["bias"] {
                    guard let flag = bias.boolValue else { throw fail("\"bias\" must be true or false, not a \(bias.typeName)") }
                    hasBias = flag
                }
                if let previous = layers.last, previous.outputFeatures != input {
                    throw fail("\"in\" is \(input), but the dense layer before it has \"out\" \(previous.outputFeatures)")
                }
                layers.append(Dense(inputFeatures: input, outputFeatures: output, hasBias: hasBias,
                                    activations: activation.map { [$0] } ?? []))
            } else {
                try Architecture.checkKeys(object, allowed: ["type"] + Architecture.parameterKeys(type), fail)
                guard let activation = try Architecture.activation(named: type, parameters: object, fail) else {
                    throw fail("type \"\(type)\" is not a layer; use \"dense\" or an activation")
                }
                guard !layers.isEmpty else {
                    throw fail("an activation applies to the dense layer before it, and there is none; start with {\"type\":\"dense\",…}")
                }
                layers[layers.count - 1].activations.append(activation)
            }
        }
        do { try self.init(layers: layers) } catch { throw .json(source: source, element: nil, reason: error.reason) }
    }

    /// The JSON list form: each dense layer carries its first activation; further ones follow as their own elements.
    public var jsonValue: JSONValue {
        var elements: [JSONValue] = []
        for layer in layers {
            var object = JSONObject([("type", .string("dense")), ("in", .integer(layer.inputFeatures)),
                                     ("out", .integer(layer.outputFeatures))])
            if !layer.hasBias { object["bias"] = .bool(false) }
            object["activation"] = .string(layer.activations.first.map(Architecture.jsonName) ?? "none")
            if let first = layer.activations.first {
                for (key, value) in Architecture.parameters(first) { object[key] = value }
            }
            elements.append(.object(object))
            for activation in layer.activations.dropFirst() {
                var entry = JSONObject([("type", .string(Architecture.jsonName(activation)))])
                for (key, value) in Architecture.parameters(activation) { entry[key] = value }
                elements.append(.object(entry))
            }
        }
        return .array(elements)
    }

    /// The JSON list form on one line (what ModelKit writes into `modelkit.architecture`).
    public var jsonText: String { JSONWriter().string(jsonValue) }

    // MARK: - Pieces

    private static func jsonName(_ activation: Activation) -> String { activation.kind.rawValue }

    private static func parameters(_ activation: Activation) -> [(String, JSONValue)] {
        switch activation {
        case .leakyRelu(let alpha): [("alpha", .double(alpha))]
        case .gelu(let tanh): tanh ? [("approximate", .string("tanh"))] : []
        case .dropout(let rate): [("rate", .double(rate))]
        default: []
        }
    }

    private static func parameterKeys(_ name: String) -> [String] {
        switch name {
        case "leaky_relu", "leakyrelu": ["alpha"]
        case "gelu": ["approximate"]
        case "dropout": ["rate"]
        default: []
        }
    }

    private static func activationName(_ value: JSONValue?, _ fail: (String) -> ArchitectureError) throws(ArchitectureError) -> String {
        guard let value, !value.isNull else { return "none" }
        guard let name = value.stringValue else { throw fail("\"activation\" must be a string such as \"relu\" or \"none\", not a \(value.typeName)") }
        return name.lowercased()
    }

    /// The activation called `name` with its parameter from `parameters`, or `nil` for `none`.
    private static func activation(named name: String, parameters: JSONObject,
                                   _ fail: (String) -> ArchitectureError) throws(ArchitectureError) -> Activation? {
        switch name {
        case "none", "linear", "affine": return nil
        case "relu": return .relu
        case "sigmoid": return .sigmoid
        case "tanh": return .tanh
        case "silu", "swish": return .silu
        case "softmax": return .softmax
        case "log_softmax", "logsoftmax": return .logSoftmax
        case "identity": return .identity
        case "leaky_relu", "leakyrelu":
            return .leakyRelu(alpha: try number(parameters["alpha"], "alpha", default: 0.01, fail))
        case "gelu":
            switch parameters["approximate"]?.stringValue?.lowercased() ?? (parameters["approximate"] == nil ? "none" : "?") {
            case "none", "erf", "exact": return .gelu(tanhApproximation: false)
            case "tanh": return .gelu(tanhApproximation: true)
            default: throw fail("\"approximate\" must be \"none\" or \"tanh\"")
            }
        case "dropout":
            let rate = try number(parameters["rate"], "rate", default: 0.5, fail)
            guard (0...1).contains(rate) else { throw fail("\"rate\" \(rate) is not between 0 and 1") }
            return .dropout(rate: rate)
        default:
            throw fail("unknown activation \"\(name)\"; expected none, relu, leaky_relu, sigmoid, tanh, gelu, silu, softmax, log_softmax, identity or dropout")
        }
    }

    private static func number(_ value: JSONValue?, _ key: String, default fallback: Double,
                               _ fail: (String) -> ArchitectureError) throws(ArchitectureError) -> Double {
        guard let value else { return fallback }
        guard let number = value.doubleValue, number.isFinite else { throw fail("\"\(key)\" must be a finite number, not a \(value.typeName)") }
        return number
    }

    private static func count(_ value: JSONValue?, _ key: String, _ fail: (String) -> ArchitectureError) throws(ArchitectureError) -> Int {
        guard let value else { throw fail("a dense layer needs \"\(key)\", its \(key == "in" ? "input" : "output") feature count") }
        guard let count = value.intValue, count >= 1, count <= maximumFeatures else {
            throw fail("\"\(key)\" must be a whole number from 1 to \(maximumFeatures)")
        }
        return count
    }

    private static func checkKeys(_ object: JSONObject, allowed: [String], _ fail: (String) -> ArchitectureError) throws(ArchitectureError) {
        for key in object.keys where !allowed.contains(key) {
            throw fail("unknown key \"\(key)\"; this element may have: \(allowed.joined(separator: ", "))")
        }
    }
}
