import ModelKitCore

/// Why the tensors of a weight-only file cannot be bound to the layers of an architecture.
///
/// Every description names the layer (`fc2`, the 2nd linear layer, with its `linear(IN,OUT)` token) and the tensor,
/// gives both shapes, and says what to change: the `--arch` value or the `--weight-layout` flag.
public enum WeightBindingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A weight's shape does not fit its layer. `looksTransposed` is true when it would fit in the other layout.
    case weightShapeMismatch(layer: String, token: String, tensor: String, actual: Shape, expected: Shape,
                             layout: WeightLayout, declared: Bool, looksTransposed: Bool)
    /// A weight fits neither orientation of its layer.
    case weightFitsNeither(layer: String, token: String, tensor: String, actual: Shape)
    /// A weight is not a matrix.
    case weightNotMatrix(layer: String, tensor: String, actual: Shape)
    /// A weight or bias does not hold floating-point values.
    case notFloatingPoint(tensor: String, dtype: DType)
    /// A bias does not have the layer's output size.
    case biasShapeMismatch(layer: String, token: String, tensor: String, actual: Shape, expected: Shape)
    /// The architecture says the layer has a bias, and no tensor is one.
    case missingBias(layer: String, token: String, candidates: [String])
    /// The architecture says `bias=false`, and the file has a bias for the layer.
    case unexpectedBias(layer: String, token: String, tensor: String)
    /// The file has a different number of weight tensors than the architecture has linear layers.
    case weightCountMismatch(expected: [String], found: [String])
    /// Shape chaining found no tensor for a layer.
    case noWeightForLayer(layer: String, token: String, wanted: String, unused: [String])
    /// Tensors left over after every layer was bound.
    case unusedTensors([String])
    /// A layer key has two tensors of the same role, or a bias and no weight.
    case ambiguousGroup(key: String, reason: String)

    public var description: String {
        switch self {
        case .weightShapeMismatch(let layer, let token, let tensor, let actual, let expected, let layout, let declared, let transposed):
            var text = "layer \(layer) \(token): weight \(MessageText.quoted(tensor)) has shape \(actual), but in the "
                + "\(declared ? "declared " : "")\(layout.rawValue) layout \(layout.axesDescription) it must be \(expected)"
            if transposed {
                text += "; it looks transposed: the file stores \(layout.swapped.axesDescription), so pass --weight-layout \(layout.swapped.flagValue)"
            } else {
                text += "; check the sizes in --arch"
            }
            return text
        case .weightFitsNeither(let layer, let token, let tensor, let actual):
            return "layer \(layer) \(token): weight \(MessageText.quoted(tensor)) has shape \(actual), which fits neither [out, in] nor "
                + "[in, out] of \(token); check the sizes in --arch (or the layer order)"
        case .weightNotMatrix(let layer, let tensor, let actual):
            return "layer \(layer): weight \(MessageText.quoted(tensor)) has shape \(actual); a dense weight must be a matrix"
        case .notFloatingPoint(let tensor, let dtype):
            return "tensor \(MessageText.quoted(tensor)) holds \(dtype.rawValue) values; dense weights and biases must be floating point"
        case .biasShapeMismatch(let layer, let token, let tensor, let actual, let expected):
            return "layer \(layer) \(token): bias \(MessageText.quoted(tensor)) has shape \(actual), but it must be \(expected) (the output size)"
        case .missingBias(let layer, let token, let candidates):
            return "layer \(layer) \(token): the architecture gives it a bias, but the file has none for it"
                + (candidates.isEmpty ? "" : " (tensors of the layer: \(candidates.joined(separator: ", ")))")
                + "; if the layer has no bias, write linear(IN,OUT,bias=false) in --arch"
        case .unexpectedBias(let layer, let token, let tensor):
            return "layer \(layer) \(token) is declared without a bias, but the file has bias \(MessageText.quoted(tensor)) for it; remove bias=false from --arch"
        case .weightCountMismatch(let expected, let found):
            return "the architecture has \(expected.count) linear layer\(expected.count == 1 ? "" : "s") "
                + "(\(expected.joined(separator: " "))) but the file has \(found.count) weight tensor\(found.count == 1 ? "" : "s")"
                + (found.isEmpty ? "" : ": \(found.joined(separator: ", "))") + "; make --arch list one linear(IN,OUT) per weight"
        case .noWeightForLayer(let layer, let token, let wanted, let unused):
            return "layer \(layer) \(token): no unused tensor has shape \(wanted)"
                + (unused.isEmpty ? "; every tensor is already bound" : "; unused tensors: \(unused.joined(separator: ", "))")
                + "; check the sizes in --arch"
        case .unusedTensors(let names):
            return "the architecture does not use \(names.count) tensor\(names.count == 1 ? "" : "s") of the file: "
                + names.joined(separator: ", ") + "; add the missing layers to --arch, or remove the tensors from the file"
        case .ambiguousGroup(let key, let reason):
            return "layer \(MessageText.quoted(key)): \(reason)"
        }
    }
}
