import ModelKitCore

/// The string form: `linear(400,200) relu linear(200,100) relu linear(100,2) softmax`.
extension Architecture {
    /// The activation tokens, as listed in error messages.
    static let activationTokens = "relu, leakyrelu(α), sigmoid, tanh, gelu, gelu(tanh), silu, softmax, logsoftmax, identity, dropout(p)"

    /// Parses the string form.
    ///
    /// Tokens are separated by white space (commas, semicolons and `->` also separate). `linear(IN,OUT)` (or
    /// `dense(IN,OUT)`, with an optional third argument `bias=false`) is a linear layer; every other token is an
    /// activation applied to the linear layer before it. Names are case-insensitive.
    ///
    /// ```swift
    /// let architecture = try Architecture(parsing: "linear(16,32) leakyrelu(0.1) linear(32,10) logsoftmax")
    /// ```
    ///
    /// - Throws: ``ArchitectureError/syntax(token:position:column:reason:)`` naming the token and its position.
    public init(parsing text: String) throws(ArchitectureError) {
        let tokens = try ArchitectureToken.split(text)
        guard !tokens.isEmpty else {
            throw .invalid(reason: "the architecture is empty; write e.g. \"linear(400,200) relu linear(200,2) softmax\"")
        }
        var layers: [Dense] = []
        var linearTokens: [ArchitectureToken] = []
        for token in tokens {
            if token.name == "linear" || token.name == "dense" {
                let layer = try Architecture.parseLinear(token)
                if let previous = layers.last, let previousToken = linearTokens.last,
                   previous.outputFeatures != layer.inputFeatures {
                    throw token.error("takes \(layer.inputFeatures) inputs, but the linear layer before it "
                                      + "(token \(previousToken.position) \(MessageText.quoted(previousToken.text))) gives \(previous.outputFeatures) outputs")
                }
                layers.append(layer)
                linearTokens.append(token)
            } else {
                let activation = try Architecture.parseActivation(token)
                guard !layers.isEmpty else {
                    throw token.error("an activation applies to the linear layer before it, and there is none; start with linear(IN,OUT)")
                }
                layers[layers.count - 1].activations.append(activation)
            }
        }
        try self.init(layers: layers)
    }

    private static func parseLinear(_ token: ArchitectureToken) throws(ArchitectureError) -> Dense {
        guard let arguments = token.arguments, arguments.count == 2 || arguments.count == 3 else {
            throw token.error("a linear layer needs its sizes: \(token.name)(IN,OUT), e.g. \(token.name)(400,200)")
        }
        let input = try positiveCount(arguments[0], "input", token)
        let output = try positiveCount(arguments[1], "output", token)
        var hasBias = true
        if arguments.count == 3 {
            switch arguments[2].lowercased().filter({ !$0.isWhitespace }) {
            case "bias=false", "nobias": hasBias = false
            case "bias=true", "bias": hasBias = true
            default: throw token.error("the third argument '\(arguments[2])' must be bias=false or bias=true")
            }
        }
        return Dense(inputFeatures: input, outputFeatures: output, hasBias: hasBias)
    }

    private static func positiveCount(_ text: String, _ which: String, _ token: ArchitectureToken) throws(ArchitectureError) -> Int {
        guard let value = Int(text), value >= 1, value <= maximumFeatures else {
            throw token.error("the \(which) size \(MessageText.quoted(text)) is not a whole number from 1 to \(maximumFeatures)")
        }
        return value
    }

    private static func parseActivation(_ token: ArchitectureToken) throws(ArchitectureError) -> Activation {
        let simple: [String: Activation] = [
            "relu": .relu, "sigmoid": .sigmoid, "tanh": .tanh, "silu": .silu, "swish": .silu, "softmax": .softmax,
            "logsoftmax": .logSoftmax, "log_softmax": .logSoftmax, "identity": .identity,
        ]
        if let activation = simple[token.name] {
            guard token.arguments?.isEmpty ?? true else {
                throw token.error("\(token.name) takes no arguments (softmax and logsoftmax always apply over the features)")
            }
            return activation
        }
        switch token.name {
        case "leakyrelu", "leaky_relu":
            guard let argument = try token.singleArgument() else { return .leakyRelu(alpha: 0.01) }
            return .leakyRelu(alpha: try finiteNumber(argument, "negative slope α", token))
        case "gelu":
            guard let argument = try token.singleArgument() else { return .gelu(tanhApproximation: false) }
            switch argument.lowercased() {
            case "tanh": return .gelu(tanhApproximation: true)
            case "none", "erf", "exact": return .gelu(tanhApproximation: false)
            default: throw token.error("gelu's argument \(MessageText.quoted(argument)) must be tanh (the approximation) or none (exact)")
            }
        case "dropout":
            guard let argument = try token.singleArgument() else { return .dropout(rate: 0.5) }
            let rate = try finiteNumber(argument, "drop probability p", token)
            guard (0...1).contains(rate) else { throw token.error("the drop probability \(argument) is not between 0 and 1") }
            return .dropout(rate: rate)
        default:
            throw token.error("unknown layer \(MessageText.quoted(token.name)); expected linear(IN,OUT) or an activation: \(activationTokens)")
        }
    }

    private static func finiteNumber(_ text: String, _ what: String, _ token: ArchitectureToken) throws(ArchitectureError) -> Double {
        guard let value = Double(text), value.isFinite, !text.contains(where: { $0.isLetter && $0 != "e" && $0 != "E" }) else {
            throw token.error("the \(what) \(MessageText.quoted(text)) is not a finite number")
        }
        return value
    }
}

/// One token of the string form, with where it stands for error messages.
struct ArchitectureToken {
    /// The lowercased name before any parenthesis.
    var name: String
    /// The comma-separated arguments inside the parentheses (trimmed), or `nil` when there are none.
    var arguments: [String]?
    /// The token as written.
    var text: String
    /// 1-based token number.
    var position: Int
    /// 1-based character column.
    var column: Int

    func error(_ reason: String) -> ArchitectureError {
        .syntax(token: text, position: position, column: column, reason: reason)
    }

    /// The one argument, or `nil` when there are no parentheses.
    func singleArgument() throws(ArchitectureError) -> String? {
        guard let arguments else { return nil }
        guard arguments.count == 1, !arguments[0].isEmpty else {
            throw error("\(name) takes one argument, e.g. \(name)(\(name == "gelu" ? "tanh" : "0.1"))")
        }
        return arguments[0]
    }

    /// Splits the string form into tokens.
    static func split(_ text: String) throws(ArchitectureError) -> [ArchitectureToken] {
        let characters = Array(text)
        var tokens: [ArchitectureToken] = []
        var index = 0

        func isSeparator(_ at: Int) -> Int {
            let character = characters[at]
            if character.isWhitespace || character == "," || character == ";" || character == "→" { return 1 }
            if character == "-", at + 1 < characters.count, characters[at + 1] == ">" { return 2 }
            return 0
        }

        while index < characters.count {
            let skip = isSeparator(index)
            if skip > 0 { index += skip; continue }
            let start = index
            while index < characters.count, isSeparator(index) == 0, characters[index] != "(", characters[index] != ")" {
                index += 1
            }
            let name = String(characters[start..<index])
            let position = tokens.count + 1
            guard !name.isEmpty else {
                throw ArchitectureError.syntax(token: String(characters[index]), position: position, column: start + 1,
                                               reason: "unexpected '\(characters[index])'; a token is a name such as relu, optionally followed by (arguments)")
            }
            var lookahead = index
            while lookahead < characters.count, characters[lookahead] == " " { lookahead += 1 }
            var arguments: [String]?
            if lookahead < characters.count, characters[lookahead] == "(" {
                guard let close = characters[lookahead...].firstIndex(of: ")") else {
                    throw ArchitectureError.syntax(token: String(characters[start...]), position: position, column: start + 1,
                                                   reason: "'(' is never closed; add ')'")
                }
                let inside = String(characters[(lookahead + 1)..<close])
                guard !inside.contains("(") else {
                    throw ArchitectureError.syntax(token: String(characters[start...close]), position: position, column: start + 1,
                                                   reason: "parentheses cannot nest")
                }
                arguments = inside.split(separator: ",", omittingEmptySubsequences: false)
                    .map { String($0.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()) }
                if arguments == [""] { arguments = [] }
                index = close + 1
            } else if index < characters.count, characters[index] == ")" {
                throw ArchitectureError.syntax(token: name + ")", position: position, column: start + 1,
                                               reason: "')' without a matching '('")
            }
            tokens.append(ArchitectureToken(name: name.lowercased(), arguments: arguments,
                                            text: String(characters[start..<index]), position: position, column: start + 1))
        }
        return tokens
    }
}
