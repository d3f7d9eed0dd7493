import ModelKitCore

/// Why an architecture (the `--arch` value, an architecture JSON file, or a model to describe) is not usable.
///
/// Each description is one line that says where the problem is (the token and its position, or the list element)
/// and what is expected instead.
public enum ArchitectureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A token of the string form is wrong. `position` counts tokens from 1; `column` counts characters from 1.
    case syntax(token: String, position: Int, column: Int, reason: String)
    /// An element of the JSON list form is wrong. `element` counts from 1; `nil` is the whole document.
    case json(source: String, element: Int?, reason: String)
    /// The layers do not form a chain, or a size is out of range.
    case invalid(reason: String)
    /// A model cannot be described as an architecture.
    case unsupportedModel(layer: String, reason: String)
    /// An architecture file could not be read.
    case cannotRead(path: String, reason: String)

    /// The problem, without its location.
    public var reason: String {
        switch self {
        case .syntax(_, _, _, let reason), .json(_, _, let reason), .invalid(let reason),
             .unsupportedModel(_, let reason), .cannotRead(_, let reason):
            reason
        }
    }

    public var description: String {
        switch self {
        case .syntax(let token, let position, let column, let reason):
            "architecture: token \(position) \(MessageText.quoted(token)) (column \(column)): \(reason)"
        case .json(let source, let element, let reason):
            "\(source): " + (element.map { "element \($0): " } ?? "") + reason
        case .invalid(let reason):
            "architecture: \(reason)"
        case .unsupportedModel(let layer, let reason):
            "cannot describe the model as an architecture: layer \(MessageText.quoted(layer)): \(reason)"
        case .cannotRead(let path, let reason):
            "\(path): cannot read the architecture file: \(reason)"
        }
    }
}
