/// One problem found by ``Model/analyze()``: where it is, what is wrong, why it probably happened, how to fix it.
public struct ValidationIssue: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable {
        /// The model cannot run as stored.
        case error
        /// The model runs, but something could not be checked or looks suspicious.
        case warning
    }

    public var severity: Severity
    /// The layer concerned, when there is one.
    public var layer: String?
    /// The tensor concerned, when there is one.
    public var tensor: String?
    public var message: String
    public var likelyCause: String?
    /// What to do about it: a flag or a command.
    public var fix: String?

    public init(_ severity: Severity, layer: String? = nil, tensor: String? = nil, _ message: String,
                likelyCause: String? = nil, fix: String? = nil) {
        self.severity = severity
        self.layer = layer
        self.tensor = tensor
        self.message = message
        self.likelyCause = likelyCause
        self.fix = fix
    }

    /// One line: `layer 'fc1': message; likely cause: …; fix: …`.
    public var description: String {
        var text = layer.map { "layer '\($0)': " } ?? ""
        text += message
        if let likelyCause { text += "; likely cause: \(likelyCause)" }
        if let fix { text += "; fix: \(fix)" }
        return text
    }
}
