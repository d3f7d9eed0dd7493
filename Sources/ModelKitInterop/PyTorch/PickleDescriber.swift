import ModelKitCore

/// One-line descriptions of unpickled values, for `inspect` and for error messages that list what a file holds.
///
/// Descriptions look one level into containers and no deeper, so a hostile graph (deeply nested, or sharing one
/// value many times over) costs no more than the container's own items.
struct PickleDescriber {
    let heap: PickleHeap

    /// E.g. `state dict: 4 tensors (float32), 35 values`, `dict of 2 entries ('state', 'param_groups')`,
    /// `integer 3`, `float 0.25`, `tensor float16 [3, 4]`.
    func summary(of value: PickleValue) -> String {
        switch value {
        case .none: return "None"
        case .bool(let flag): return "bool \(flag ? "True" : "False")"
        case .int(let number): return "integer \(number)"
        case .bigInt(let bytes): return "integer of \(bytes.count * 8) bits"
        case .float(let number): return "float \(number)"
        case .string(let text): return "string '\(Self.shortened(text))'"
        case .bytes(let bytes): return "bytes (\(bytes.count))"
        case .tuple(let index): return "tuple of \(Self.count(heap.tuples[index].count, "item"))"
        case .list(let index): return "list of \(Self.count(heap.lists[index].count, "item"))"
        case .set(let index): return "set of \(Self.count(heap.sets[index].count, "item"))"
        case .tensor(let index): return "tensor " + tensorDescription(heap.tensors[index])
        case .storage(let index): return "storage '\(heap.storages[index].key)'"
        case .global(let global): return "global \(global.qualifiedName)"
        case .object(let index): return "\(heap.objects[index].typeName) \(Self.shortened(heap.objects[index].text))"
        case .dict(let index):
            let dict = heap.dicts[index]
            if let tensors = tensorReferences(dict) {
                let dtypes = Set(tensors.map(dtypeName)).sorted().joined(separator: ", ")
                let values = tensors.reduce(0) { total, tensor in
                    let (product, overflow) = Shape(tensor.size).elementCount.map { total.addingReportingOverflow($0) } ?? (0, true)
                    return overflow ? total : product
                }
                return "state dict: \(Self.count(tensors.count, "tensor")) (\(dtypes)), \(values) values"
            }
            let keys = dict.keys.prefix(6).map { "'\(keyText($0))'" }.joined(separator: ", ") + (dict.count > 6 ? ", …" : "")
            return (dict.isCounter ? "Counter of " : "dict of ") + Self.count(dict.count, "entry", "entries")
                + (dict.count > 0 ? " (\(keys))" : "")
        }
    }

    /// The tensors of `dict` when every value is one (and there is at least one), else `nil`.
    func tensorReferences(_ dict: PickleDict) -> [TorchTensorReference]? {
        guard dict.count > 0 else { return nil }
        var result: [TorchTensorReference] = []
        for value in dict.values {
            guard case .tensor(let index) = value else { return nil }
            result.append(heap.tensors[index])
        }
        return result
    }

    /// A dict key as text: strings as they are, integers in decimal (Adam's state is keyed by parameter index).
    func keyText(_ key: PickleValue) -> String {
        switch key {
        case .string(let text): RestrictedUnpickler.printable(text)
        case .int(let number): String(number)
        case .bool(let flag): flag ? "True" : "False"
        case .none: "None"
        default: "<\(key.kindName)>"
        }
    }

    /// `float32 [200, 400]`.
    func tensorDescription(_ tensor: TorchTensorReference) -> String {
        "\(dtypeName(tensor)) \(Shape(tensor.size))"
    }

    func dtypeName(_ tensor: TorchTensorReference) -> String {
        if let dtype = tensor.dtype { return dtype.name }
        switch heap.storages[tensor.storage].type {
        case .typed(let type): return type.name
        case .untyped: return "untyped"
        }
    }

    /// `summary` with "a" or "an" in front (`an integer 3`, `a dict of 2 entries`), or as it is for `None`.
    static func withArticle(_ summary: String) -> String {
        guard summary != "None" else { return summary }
        return (summary.first.map { "aeiou".contains($0) } == true ? "an " : "a ") + summary
    }

    static func shortened(_ text: String) -> String {
        let shown = RestrictedUnpickler.printable(text)
        return shown.count > 40 ? String(shown.prefix(40)) + "…" : shown
    }

    static func count(_ number: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(number) \(number == 1 ? singular : plural ?? singular + "s")"
    }
}
