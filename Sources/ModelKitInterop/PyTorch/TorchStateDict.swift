import ModelKitCore

/// Finds the state dict in an unpickled `torch.save` file: the top level, or a dict inside a checkpoint reached by a
/// key path (`model`, `optimizer.state.0`).
struct TorchStateDict {
    /// The state dict's entries in file order: each name and tensor view.
    let entries: [(name: String, tensor: TorchTensorReference)]
    /// The key path that led to it (empty for the top level).
    let keyPath: String
    /// Set when the key path was chosen automatically, to tell the user.
    let note: String?
    /// The architecture ModelKit embeds in its own exports (`_metadata['modelkit']['architecture']`), when present.
    let embeddedArchitecture: String?

    /// Locates the state dict in `archive`.
    ///
    /// With `key`, the value at that dotted path must be a dict of tensors. Components are dict keys (a key that
    /// itself contains dots, like `module.encoder`, is matched whole before it is split) or list indices. Without
    /// `key`, the top level is used when it is a dict of tensors; a checkpoint dict with exactly one dict of tensors
    /// among its values uses that one, and says so in ``note``.
    ///
    /// - Throws: ``PyTorchError/keyNotFound(path:key:available:)`` or ``PyTorchError/notAStateDict(path:key:reason:)``.
    init(archive: TorchArchive, key: String?) throws(PyTorchError) {
        let describer = PickleDescriber(heap: archive.heap)
        let path = archive.path
        var target = archive.root
        var resolved = ""
        var note: String?
        if let key, !key.isEmpty {
            (target, resolved) = try Self.navigate(archive.root, path: key, heap: archive.heap, file: path)
        } else if case .dict(let rootIndex) = archive.root, describer.tensorReferences(archive.heap.dicts[rootIndex]) == nil {
            let dict = archive.heap.dicts[rootIndex]
            let candidates = zip(dict.keys, dict.values).filter { _, value in
                if case .dict(let index) = value { return describer.tensorReferences(archive.heap.dicts[index]) != nil }
                return false
            }
            guard candidates.count == 1, let (candidateKey, value) = candidates.first else {
                let listing = zip(dict.keys, dict.values).prefix(12)
                    .map { "'\(describer.keyText($0))' (\(describer.summary(of: $1)))" }.joined(separator: ", ")
                throw .notAStateDict(path: path, key: nil, reason: dict.count == 0 ? "the top level is an empty dict"
                    : "the top level is a dict holding \(listing); choose the state dict with --key")
            }
            target = value
            resolved = describer.keyText(candidateKey)
            note = "read the state dict under key \(MessageText.quoted(resolved)), the only dict of tensors at the top level (choose another with --key)"
        }
        guard case .dict(let index) = target else {
            throw .notAStateDict(path: path, key: resolved.isEmpty ? nil : resolved,
                                 reason: "it holds \(PickleDescriber.withArticle(describer.summary(of: target))), not a dict of tensors")
        }
        let dict = archive.heap.dicts[index]
        guard dict.count > 0 else {
            throw .notAStateDict(path: path, key: resolved.isEmpty ? nil : resolved, reason: "the dict is empty")
        }
        var entries: [(name: String, tensor: TorchTensorReference)] = []
        for (entryKey, value) in zip(dict.keys, dict.values) {
            let name = describer.keyText(entryKey)
            switch entryKey {
            case .string, .int: break
            default:
                throw .notAStateDict(path: path, key: resolved.isEmpty ? nil : resolved,
                                     reason: "a key is a \(entryKey.kindName); state dict keys are names")
            }
            guard case .tensor(let tensorIndex) = value else {
                throw .notAStateDict(path: path, key: resolved.isEmpty ? nil : resolved,
                                     reason: "entry \(MessageText.quoted(name)) is \(PickleDescriber.withArticle(describer.summary(of: value))), not a tensor"
                                        + (resolved.isEmpty ? "; if this is a checkpoint, choose its state dict with --key" : ""))
            }
            entries.append((name, archive.heap.tensors[tensorIndex]))
        }
        self.entries = entries
        self.keyPath = resolved
        self.note = note
        self.embeddedArchitecture = Self.embeddedArchitecture(dict, heap: archive.heap)
    }

    /// The top-level entries of the file with one-line summaries (for `inspect`). A file whose top level is not a
    /// dict gives one entry with the empty key.
    static func listing(_ archive: TorchArchive) -> [(key: String, summary: String)] {
        let describer = PickleDescriber(heap: archive.heap)
        switch archive.root {
        case .dict(let index):
            let dict = archive.heap.dicts[index]
            return zip(dict.keys, dict.values).map { (describer.keyText($0), describer.summary(of: $1)) }
        case .list(let index):
            return archive.heap.lists[index].enumerated().map { (String($0), describer.summary(of: $1)) }
        case .tuple(let index):
            return archive.heap.tuples[index].enumerated().map { (String($0), describer.summary(of: $1)) }
        default:
            return [("", describer.summary(of: archive.root))]
        }
    }

    /// Follows `path` from `root`. Returns the value and the path as resolved.
    static func navigate(_ root: PickleValue, path: String, heap: PickleHeap,
                         file: String) throws(PyTorchError) -> (PickleValue, String) {
        let describer = PickleDescriber(heap: heap)
        var components = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var current = root
        var resolved: [String] = []
        while !components.isEmpty {
            let here = resolved.isEmpty ? "" : resolved.joined(separator: ".") + "."
            switch current {
            case .dict(let index):
                let dict = heap.dicts[index]
                // The longest run of components that is a key wins: 'module.encoder' before 'module'.
                var matched: (count: Int, value: PickleValue)?
                for count in stride(from: components.count, through: 1, by: -1) {
                    let candidate = components.prefix(count).joined(separator: ".")
                    if let value = dict.value(for: .string(candidate)) ?? Int64(candidate).flatMap({ dict.value(for: .int($0)) }) {
                        matched = (count, value)
                        break
                    }
                }
                guard let (count, value) = matched else {
                    throw .keyNotFound(path: file, key: here + components[0], available: dict.keys.map(describer.keyText))
                }
                resolved.append(components.prefix(count).joined(separator: "."))
                components.removeFirst(count)
                current = value
            case .list, .tuple:
                let items: [PickleValue]
                if case .list(let index) = current { items = heap.lists[index] } else if case .tuple(let index) = current {
                    items = heap.tuples[index]
                } else { items = [] }
                guard let position = Int(components[0]), items.indices.contains(position) else {
                    throw .keyNotFound(path: file, key: here + components[0],
                                       available: items.indices.map(String.init))
                }
                resolved.append(components.removeFirst())
                current = items[position]
            default:
                throw .notAStateDict(path: file, key: here + components[0],
                                     reason: "'\(here.dropLast())' is \(PickleDescriber.withArticle(describer.summary(of: current))), which has no entries")
            }
        }
        return (current, resolved.joined(separator: "."))
    }

    /// `_metadata['modelkit']['architecture']` of a state dict, set by ``PyTorchFormat/write(_:to:)``.
    private static func embeddedArchitecture(_ dict: PickleDict, heap: PickleHeap) -> String? {
        guard case .dict(let attributes)? = dict.attributes,
              case .dict(let metadata)? = heap.dicts[attributes].value(for: .string("_metadata")),
              case .dict(let ours)? = heap.dicts[metadata].value(for: .string(TorchStateDictWriter.metadataKey)),
              case .string(let text)? = heap.dicts[ours].value(for: .string("architecture")) else { return nil }
        return text
    }
}
