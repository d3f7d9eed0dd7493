/// The naming conventions that say which tensors belong to which layer, and the natural order of layer names.
///
/// A name follows a convention when its last component (after `.` or `/`, with a TensorFlow `:0` suffix removed)
/// is a role, `weight`, `kernel` or `bias`, and something comes before it: `0.weight`, `fc1.bias`,
/// `layers.3.weight`, `model.0.weight`, `dense_1/kernel:0`. Keras 3 `.weights.h5` paths `…/vars/0` (kernel) and
/// `…/vars/1` (bias) are understood too. What comes before the role is the layer key.
enum TensorNaming {
    /// The part a tensor plays in a dense layer.
    enum Role: Equatable {
        /// `weight` (PyTorch) or `kernel` (Keras, TensorFlow, Flax).
        case weight(isKernel: Bool)
        /// `bias`.
        case bias

        var isWeight: Bool { if case .weight = self { true } else { false } }
    }

    /// The layer key and role of `name`, or `nil` when the name follows no convention.
    static func parse(_ name: String) -> (key: String, role: Role)? {
        var text = Substring(name)
        // TensorFlow variable names end in ":<output index>".
        if let colon = text.lastIndex(of: ":"), text[text.index(after: colon)...].allSatisfy(\.isNumber),
           text.index(after: colon) < text.endIndex {
            text = text[..<colon]
        }
        guard let separator = text.lastIndex(where: { $0 == "." || $0 == "/" }) else { return nil }
        let key = text[..<separator]
        let last = text[text.index(after: separator)...].lowercased()
        guard !key.isEmpty else { return nil }
        switch last {
        case "weight": return (String(key), .weight(isKernel: false))
        case "kernel": return (String(key), .weight(isKernel: true))
        case "bias": return (String(key), .bias)
        case "0", "1":
            // Keras 3: layers/dense/vars/0 is the kernel, vars/1 the bias.
            guard let vars = key.lastIndex(where: { $0 == "." || $0 == "/" }), key[key.index(after: vars)...] == "vars",
                  !key[..<vars].isEmpty else { return nil }
            return (String(key[..<vars]), last == "0" ? .weight(isKernel: true) : .bias)
        default: return nil
        }
    }

    /// Whether `a` comes before `b` in natural order: runs of digits compare as numbers (`2` before `10`), other
    /// text compares byte by byte, and a name that is a prefix of another comes first (`dense` before `dense_1`).
    static func naturallyPrecedes(_ a: String, _ b: String) -> Bool {
        let left = runs(a), right = runs(b)
        for (x, y) in zip(left, right) where x != y {
            switch (x, y) {
            case (.digits(let p), .digits(let q)):
                // Compare by value without converting (the run may be longer than any integer): strip leading
                // zeros, then the longer number is larger, then compare digit by digit.
                let p1 = p.drop { $0 == UInt8(ascii: "0") }, q1 = q.drop { $0 == UInt8(ascii: "0") }
                if p1.count != q1.count { return p1.count < q1.count }
                if !p1.elementsEqual(q1) { return p1.lexicographicallyPrecedes(q1) }
                return p.count < q.count
            case (.text(let p), .text(let q)):
                return p.lexicographicallyPrecedes(q)
            case (.digits, .text):
                return true
            case (.text, .digits):
                return false
            }
        }
        return left.count < right.count
    }

    private enum Run: Equatable {
        case digits([UInt8])
        case text([UInt8])
    }

    private static func runs(_ name: String) -> [Run] {
        var result: [Run] = []
        var current: [UInt8] = []
        var currentIsDigits = false
        for byte in name.utf8 {
            let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            if !current.isEmpty, isDigit != currentIsDigits {
                result.append(currentIsDigits ? .digits(current) : .text(current))
                current = []
            }
            currentIsDigits = isDigit
            current.append(byte)
        }
        if !current.isEmpty { result.append(currentIsDigits ? .digits(current) : .text(current)) }
        return result
    }
}
