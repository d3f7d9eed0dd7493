import ModelKitCore

/// Binds the tensors of a weight-only file (safetensors, `.npz`, a PyTorch `state_dict`, Keras weights) to the
/// layers of an ``Architecture``, deciding and recording each weight's layout.
///
/// Matching (Specs/interop/architecture.md, "Binding"):
/// 1. When every tensor name follows a known convention (`0.weight`, `fc1.bias`, `layers.3.weight`,
///    `model.0.weight`, `dense_1/kernel:0`), tensors are grouped by layer key and the groups are taken in natural
///    order (`2.weight` before `10.weight`), never in file order (safetensors files are sorted by dtype, then name).
/// 2. Otherwise by shape chaining: each linear layer takes the first unused matrix (in natural name order) that
///    fits its `in`/`out`, then the first unused vector of its output size as bias.
///
/// Layouts: with `override` (the user's `--weight-layout`) every weight must fit it (`declared`); otherwise a
/// non-square weight takes the one orientation that fits (`shape`), and a square one the source's convention
/// (`convention`): `defaultLayout`, or `in_out` for a tensor named `kernel`.
///
/// ```swift
/// let model = try WeightBinder.bind(tensors: tensors, architecture: try Architecture(parsing: "linear(4,3) relu linear(3,2)"),
///                                   sourceFormat: "safetensors", defaultLayout: .outIn, override: nil)
/// ```
public enum WeightBinder {
    /// How tensors were matched to layers.
    public enum Method: String, Sendable {
        /// Every name followed a convention; groups were taken in natural order.
        case names = "by name"
        /// Some name followed none; layers took tensors by shape along the chain.
        case shapes = "by shape chaining"
    }

    /// A bound model and what the binder decided, for `inspect` and load reports.
    public struct Binding: Sendable {
        /// The model, with every weight's layout tagged.
        public var model: Model
        /// How tensors were matched to layers.
        public var method: Method
        /// One line each: the mapping, and any layout that was decided by convention or differs from the source's.
        public var notes: [String]
    }

    /// Binds `tensors` to `architecture` and returns the model (see ``binding(tensors:architecture:sourceFormat:defaultLayout:override:)``).
    ///
    /// - Parameters:
    ///   - sourceFormat: recorded in the model (`safetensors`, `pytorch`, `keras`, `numpy`).
    ///   - defaultLayout: the source's convention for square weights (`out_in` for PyTorch, `in_out` for Keras).
    ///   - override: the user's `--weight-layout`; every weight must then be stored that way.
    /// - Throws: ``WeightBindingError`` naming the layer and tensor, both shapes, and the fix.
    public static func bind(tensors: [ModelTensor], architecture: Architecture, sourceFormat: String,
                            defaultLayout: WeightLayout, override: WeightLayout?) throws(WeightBindingError) -> Model {
        try binding(tensors: tensors, architecture: architecture, sourceFormat: sourceFormat,
                    defaultLayout: defaultLayout, override: override).model
    }

    /// Binds `tensors` to `architecture` and says how.
    ///
    /// - Throws: ``WeightBindingError`` naming the layer and tensor, both shapes, and the fix.
    public static func binding(tensors: [ModelTensor], architecture: Architecture, sourceFormat: String,
                               defaultLayout: WeightLayout, override: WeightLayout?) throws(WeightBindingError) -> Binding {
        let method: Method
        let assignments: [Assignment]
        if let named = try assignByName(tensors, architecture) {
            (method, assignments) = (.names, named)
        } else {
            (method, assignments) = (.shapes, try assignByShape(tensors, architecture, override))
        }
        var model = Model(info: ModelInfo(name: "model", producer: "unknown", sourceFormat: sourceFormat,
                                          inputShape: [nil, architecture.inputFeatures]))
        var notes: [String] = []
        var mapping: [String] = []
        var layerNames = Set<String>()
        for (index, (layer, assignment)) in zip(architecture.layers, assignments).enumerated() {
            let name = "fc\(index + 1)"
            let weight = assignment.weight
            let convention: WeightLayout = assignment.isKernel ? .inOut : defaultLayout
            let (layout, source) = try decideLayout(name, layer, weight, override: override, convention: convention)
            if source == .convention {
                notes.append("\(name): weight \(MessageText.quoted(weight.name)) is square \(weight.tensor.shape), so its layout cannot be seen "
                             + "from its shape; read as \(layout.rawValue), the \(sourceFormat) convention (pass --weight-layout to say otherwise)")
            } else if source == .shape, layout != convention {
                notes.append("\(name): weight \(MessageText.quoted(weight.name)) \(weight.tensor.shape) is stored \(layout.axesDescription), not the "
                             + "\(sourceFormat) convention \(convention.axesDescription); read as \(layout.rawValue) because only that fits \(layer.token)")
            }
            model.addTensor(ModelTensor(name: weight.name, tensor: weight.tensor, layout: layout, layoutSource: source))
            var parameters = ["weight": weight.name]
            if let bias = assignment.bias {
                try checkBias(name, layer, bias)
                model.addTensor(ModelTensor(name: bias.name, tensor: bias.tensor))
                parameters["bias"] = bias.name
            }
            layerNames.insert(name)
            model.layers.append(Layer(name: name, kind: .dense, parameters: parameters))
            for activation in layer.activations {
                var activationName = "\(activation.kind.rawValue)\(index + 1)"
                var suffix = 2
                while layerNames.contains(activationName) {
                    activationName = "\(activation.kind.rawValue)\(index + 1)_\(suffix)"
                    suffix += 1
                }
                layerNames.insert(activationName)
                model.layers.append(Layer(name: activationName, kind: activation.kind, attributes: activation.attributes))
            }
            mapping.append("\(name) ← \(weight.name)")
        }
        notes.insert("weights bound \(method.rawValue)\(method == .names ? " in natural order" : ""): " + mapping.joined(separator: ", "), at: 0)
        return Binding(model: model, method: method, notes: notes)
    }

    // MARK: - Matching

    struct Assignment {
        var weight: ModelTensor
        var bias: ModelTensor?
        /// Named `kernel`: Keras, TensorFlow and Flax store those `[in, out]`.
        var isKernel: Bool
    }

    /// Matches by naming convention, or returns `nil` when some name follows none.
    static func assignByName(_ tensors: [ModelTensor], _ architecture: Architecture) throws(WeightBindingError) -> [Assignment]? {
        var groups: [String: (weight: ModelTensor?, isKernel: Bool, bias: ModelTensor?)] = [:]
        for tensor in tensors {
            guard let (key, role) = TensorNaming.parse(tensor.name) else { return nil }
            var group = groups[key] ?? (nil, false, nil)
            switch role {
            case .weight(let isKernel):
                if let other = group.weight {
                    throw .ambiguousGroup(key: key, reason: "two weights, \(MessageText.quoted(other.name)) and \(MessageText.quoted(tensor.name)); which one is meant is ambiguous")
                }
                group.weight = tensor
                group.isKernel = isKernel
            case .bias:
                if let other = group.bias {
                    throw .ambiguousGroup(key: key, reason: "two biases, \(MessageText.quoted(other.name)) and \(MessageText.quoted(tensor.name)); which one is meant is ambiguous")
                }
                group.bias = tensor
            }
            groups[key] = group
        }
        let keys = groups.keys.sorted(by: TensorNaming.naturallyPrecedes)
        var assignments: [Assignment] = []
        for key in keys {
            guard let group = groups[key], let weight = group.weight else {
                let bias = groups[key]?.bias?.name ?? key
                throw .ambiguousGroup(key: key, reason: "bias \(MessageText.quoted(bias)) has no weight next to it; a dense layer needs both (or only a weight)")
            }
            assignments.append(Assignment(weight: weight, bias: group.bias, isKernel: group.isKernel))
        }
        guard assignments.count == architecture.layers.count else {
            throw .weightCountMismatch(expected: architecture.layers.map(\.token),
                                       found: assignments.map { "\($0.weight.name) \($0.weight.tensor.shape)" })
        }
        for (index, (layer, assignment)) in zip(architecture.layers, assignments).enumerated() {
            if layer.hasBias, assignment.bias == nil {
                throw .missingBias(layer: "fc\(index + 1)", token: layer.token, candidates: [assignment.weight.name])
            }
            if !layer.hasBias, let bias = assignment.bias {
                throw .unexpectedBias(layer: "fc\(index + 1)", token: layer.token, tensor: bias.name)
            }
        }
        return assignments
    }

    /// Matches by shapes along the chain of layers; ties go to the name that comes first in natural order.
    static func assignByShape(_ tensors: [ModelTensor], _ architecture: Architecture,
                              _ override: WeightLayout?) throws(WeightBindingError) -> [Assignment] {
        var unused = tensors.sorted { TensorNaming.naturallyPrecedes($0.name, $1.name) }
        var assignments: [Assignment] = []
        for (index, layer) in architecture.layers.enumerated() {
            let name = "fc\(index + 1)"
            let (input, output) = (layer.inputFeatures, layer.outputFeatures)
            let outIn: Shape = [output, input], inOut: Shape = [input, output]
            let wanted: [Shape] = override.map { [$0 == .outIn ? outIn : inOut] } ?? [outIn, inOut]
            guard let weightIndex = unused.firstIndex(where: { wanted.contains($0.tensor.shape) }) else {
                if let override, let transposed = unused.first(where: { $0.tensor.shape == (override == .outIn ? inOut : outIn) }) {
                    throw .weightShapeMismatch(layer: name, token: layer.token, tensor: transposed.name, actual: transposed.tensor.shape,
                                               expected: wanted[0], layout: override, declared: true, looksTransposed: true)
                }
                throw .noWeightForLayer(layer: name, token: layer.token,
                                        wanted: wanted.map(\.description).joined(separator: " or "),
                                        unused: unused.map { "\($0.name) \($0.tensor.shape)" })
            }
            let weight = unused.remove(at: weightIndex)
            var bias: ModelTensor?
            if layer.hasBias {
                guard let biasIndex = unused.firstIndex(where: { $0.tensor.shape == [output] }) else {
                    throw .missingBias(layer: name, token: layer.token, candidates: [])
                }
                bias = unused.remove(at: biasIndex)
            }
            let isKernel = TensorNaming.parse(weight.name).map { $0.role == .weight(isKernel: true) } ?? false
            assignments.append(Assignment(weight: weight, bias: bias, isKernel: isKernel))
        }
        guard unused.isEmpty else { throw .unusedTensors(unused.map { "\($0.name) \($0.tensor.shape)" }) }
        return assignments
    }

    // MARK: - Checks

    /// The layout of `weight` for `layer`, and how it was decided.
    static func decideLayout(_ name: String, _ layer: Architecture.Dense, _ weight: ModelTensor, override: WeightLayout?,
                             convention: WeightLayout) throws(WeightBindingError) -> (WeightLayout, LayoutSource) {
        let shape = weight.tensor.shape
        guard weight.tensor.dtype.isFloatingPoint else { throw .notFloatingPoint(tensor: weight.name, dtype: weight.tensor.dtype) }
        guard shape.rank == 2 else { throw .weightNotMatrix(layer: name, tensor: weight.name, actual: shape) }
        let (input, output) = (layer.inputFeatures, layer.outputFeatures)
        func expected(_ layout: WeightLayout) -> Shape { layout == .outIn ? [output, input] : [input, output] }
        if let override {
            guard shape == expected(override) else {
                throw .weightShapeMismatch(layer: name, token: layer.token, tensor: weight.name, actual: shape,
                                           expected: expected(override), layout: override, declared: true,
                                           looksTransposed: shape == expected(override.swapped))
            }
            return (override, .declared)
        }
        switch (shape == expected(.outIn), shape == expected(.inOut)) {
        case (true, true): return (convention, .convention)
        case (true, false): return (.outIn, .shape)
        case (false, true): return (.inOut, .shape)
        case (false, false): throw .weightFitsNeither(layer: name, token: layer.token, tensor: weight.name, actual: shape)
        }
    }

    static func checkBias(_ name: String, _ layer: Architecture.Dense, _ bias: ModelTensor) throws(WeightBindingError) {
        guard bias.tensor.dtype.isFloatingPoint else { throw .notFloatingPoint(tensor: bias.name, dtype: bias.tensor.dtype) }
        guard bias.tensor.shape == [layer.outputFeatures] else {
            throw .biasShapeMismatch(layer: name, token: layer.token, tensor: bias.name, actual: bias.tensor.shape,
                                     expected: [layer.outputFeatures])
        }
    }
}
