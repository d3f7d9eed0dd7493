import ModelKitCore

/// What the allowed globals become when a pickle "calls" them (`REDUCE`, `NEWOBJ`), what `BUILD` and `BINPERSID`
/// do: all interpreted here, nothing imported or executed (Specs/interop/pytorch.md P4–P6).
extension RestrictedUnpickler {
    mutating func reduce(_ callable: PickleValue, _ argumentsValue: PickleValue) throws(PyTorchError) -> PickleValue {
        guard case .global(let global) = callable else { throw fail("REDUCE calls \(PickleDescriber.withArticle(callable.kindName)), not an allowed global") }
        guard case .tuple(let argumentsIndex) = argumentsValue else {
            throw fail("REDUCE of \(global.qualifiedName) with \(PickleDescriber.withArticle(argumentsValue.kindName)) instead of an argument tuple")
        }
        let arguments = heap.tuples[argumentsIndex]
        let name = global.qualifiedName
        switch global {
        case .orderedDict:
            let dict = try newDict(ordered: true)
            guard let pairs = arguments.first else { return dict }
            guard arguments.count == 1 else { throw fail("\(name) takes at most one argument, not \(arguments.count)") }
            for pair in try sequenceItems(pairs, "\(name)'s argument") {
                guard case .tuple(let pairIndex) = pair, heap.tuples[pairIndex].count == 2 else {
                    throw fail("\(name)'s argument must hold (key, value) pairs")
                }
                try setItems(heap.tuples[pairIndex], into: dict)
            }
            return dict
        case .rebuildTensorV2, .rebuildTensorV3:
            return try rebuildTensor(global, arguments)
        case .rebuildParameter, .rebuildParameterWithState:
            let expected = global == .rebuildParameter ? 3 : 4
            guard arguments.count == expected else { throw fail("\(name) takes \(expected) arguments, not \(arguments.count)") }
            guard case .tensor = arguments[0] else { throw fail("\(name)'s data is \(PickleDescriber.withArticle(arguments[0].kindName)), not a tensor") }
            return arguments[0]
        case .size:
            guard arguments.count == 1 else { throw fail("\(name) takes one argument, not \(arguments.count)") }
            _ = try integers(arguments[0], "torch.Size's argument", minimum: 0)
            return new(tuple: try sequenceItems(arguments[0], "torch.Size's argument"))
        case .set, .frozenset:
            guard arguments.count <= 1 else { throw fail("\(name) takes at most one argument, not \(arguments.count)") }
            let items = try arguments.first.map { (value) throws(PyTorchError) in try sequenceItems(value, "\(name)'s argument") } ?? []
            heap.sets.append(items)
            return .set(heap.sets.count - 1)
        case .codecsEncode:
            guard arguments.count == 2, case .string(let text) = arguments[0], case .string(let encoding) = arguments[1],
                  encoding == "latin1" || encoding == "latin-1" else {
                throw fail("_codecs.encode is only read as encode(text, 'latin1'), how pickle stores bytes")
            }
            var bytes: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard scalar.value <= 0xFF else { throw fail("_codecs.encode: \(MessageText.quoted(scalar)) is not a latin-1 character") }
                bytes.append(UInt8(scalar.value))
            }
            return .bytes(bytes)
        case .counter:
            guard arguments.count <= 1 else { throw fail("\(name) takes at most one argument, not \(arguments.count)") }
            let counter = try newDict(ordered: false)
            guard case .dict(let counterIndex) = counter else { return counter }
            heap.dicts[counterIndex].isCounter = true
            guard let source = arguments.first else { return counter }
            // Pickle writes Counter(dict(self)); counting the elements of another iterable is not needed.
            guard case .dict(let sourceIndex) = source else {
                throw fail("\(name) is only read from a dict of counts, not \(PickleDescriber.withArticle(source.kindName))")
            }
            let items = zip(heap.dicts[sourceIndex].keys, heap.dicts[sourceIndex].values).flatMap { [$0, $1] }
            try setItems(items, into: counter)
            return counter
        case .device:
            return try device(arguments)
        case .parameter:
            return try parameter(arguments)
        case .bytearray:
            guard arguments.count <= 1 else { throw fail("\(name) takes at most one argument here, not \(arguments.count)") }
            guard let source = arguments.first else { return .bytes([]) }
            guard case .bytes = source else { throw fail("\(name) is only read from bytes, not \(PickleDescriber.withArticle(source.kindName))") }
            return source
        case .complex:
            return try complex(arguments)
        case .storageType, .dtype:
            throw fail("\(name) cannot be called")
        }
    }

    /// `NEWOBJ`: `cls.__new__(cls, *args)`, which torch allows for the classes on its allowlist. For the containers
    /// `__new__` ignores its arguments (the items come later, by `SETITEMS` or `BUILD`); `Parameter` is constructed,
    /// as torch does; a function, a storage type or a dtype is not a class and is an error.
    mutating func newObject(_ callable: PickleValue, _ argumentsValue: PickleValue) throws(PyTorchError) -> PickleValue {
        guard case .global(let global) = callable else { throw fail("NEWOBJ of \(PickleDescriber.withArticle(callable.kindName)), not an allowed class") }
        guard case .tuple(let argumentsIndex) = argumentsValue else {
            throw fail("NEWOBJ of \(global.qualifiedName) with \(PickleDescriber.withArticle(argumentsValue.kindName)) instead of an argument tuple")
        }
        let arguments = heap.tuples[argumentsIndex]
        switch global {
        case .orderedDict: return try newDict(ordered: true)
        case .counter:
            let counter = try newDict(ordered: false)
            if case .dict(let index) = counter { heap.dicts[index].isCounter = true }
            return counter
        case .set, .frozenset:
            heap.sets.append([])
            return .set(heap.sets.count - 1)
        case .bytearray: return .bytes([])
        case .complex: return try complex(arguments)
        case .parameter: return try parameter(arguments)
        case .size:
            guard arguments.count == 1 else { throw fail("torch.Size takes one argument, not \(arguments.count)") }
            _ = try integers(arguments[0], "torch.Size's argument", minimum: 0)
            return new(tuple: try sequenceItems(arguments[0], "torch.Size's argument"))
        case .device, .rebuildTensorV2, .rebuildTensorV3, .rebuildParameter, .rebuildParameterWithState, .codecsEncode,
             .storageType, .dtype:
            throw fail("NEWOBJ of \(global.qualifiedName), which is not a class that can be created this way")
        }
    }

    /// `torch.device('cuda', 0)`, `torch.device('cpu')` or `torch.device('cuda:0')`: kept as text, never used.
    private mutating func device(_ arguments: [PickleValue]) throws(PyTorchError) -> PickleValue {
        guard (1...2).contains(arguments.count), case .string(let type) = arguments[0] else {
            throw fail("torch.device is only read as device(type[, index]) with a string type")
        }
        var text = RestrictedUnpickler.printable(type)
        if arguments.count == 2 {
            switch arguments[1] {
            case .none: break
            case .int(let index) where index >= 0: text += ":\(index)"
            default: throw fail("torch.device's index is \(PickleDescriber.withArticle(arguments[1].kindName)), not an integer ≥ 0")
            }
        }
        heap.objects.append(PickleObject(typeName: "torch.device", text: text))
        return .object(heap.objects.count - 1)
    }

    /// `Parameter(data[, requires_grad])`: the tensor (`requires_grad` is a training flag; weights are weights).
    private func parameter(_ arguments: [PickleValue]) throws(PyTorchError) -> PickleValue {
        guard (1...2).contains(arguments.count), case .tensor = arguments[0] else {
            throw fail("torch.nn.parameter.Parameter is only read as Parameter(tensor[, requires_grad])")
        }
        return arguments[0]
    }

    /// `complex(real[, imag])` of numbers: kept as text (ModelKit has no complex scalars).
    private mutating func complex(_ arguments: [PickleValue]) throws(PyTorchError) -> PickleValue {
        guard arguments.count <= 2 else { throw fail("builtins.complex takes at most two arguments, not \(arguments.count)") }
        var parts: [Double] = []
        for argument in arguments {
            switch argument {
            case .int(let number): parts.append(Double(number))
            case .float(let number): parts.append(number)
            case .bool(let flag): parts.append(flag ? 1 : 0)
            default: throw fail("builtins.complex is only read from numbers, not \(PickleDescriber.withArticle(argument.kindName))")
            }
        }
        let real = parts.first ?? 0, imaginary = parts.count > 1 ? parts[1] : 0
        let text = "(\(real)\(imaginary.sign == .minus ? "-" : "+")\(Swift.abs(imaginary))j)"
        heap.objects.append(PickleObject(typeName: "complex", text: text))
        return .object(heap.objects.count - 1)
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])` and
    /// `_rebuild_tensor_v3(..., hooks, dtype[, metadata])`: records the view; the bytes are checked when read.
    mutating func rebuildTensor(_ global: PickleGlobal, _ arguments: [PickleValue]) throws(PyTorchError) -> PickleValue {
        let name = global.qualifiedName
        let counts = global == .rebuildTensorV2 ? 6...7 : 7...8
        guard counts.contains(arguments.count) else {
            throw fail("\(name) takes \(counts.lowerBound) or \(counts.upperBound) arguments, not \(arguments.count)")
        }
        guard case .storage(let storage) = arguments[0] else {
            throw fail("\(name)'s first argument is \(PickleDescriber.withArticle(arguments[0].kindName)), not a storage reference")
        }
        guard case .int(let offset) = arguments[1], offset >= 0, let storageOffset = Int(exactly: offset) else {
            throw fail("\(name)'s storage offset must be a non-negative integer")
        }
        let size = try integers(arguments[2], "\(name)'s size", minimum: 0)
        let stride = try integers(arguments[3], "\(name)'s stride", minimum: 0)
        guard size.count == stride.count else {
            throw fail("\(name): size has \(size.count) dimensions but stride has \(stride.count)")
        }
        guard case .bool = arguments[4] else { throw fail("\(name)'s requires_grad is \(PickleDescriber.withArticle(arguments[4].kindName)), not a bool") }
        var dtype: TorchScalarType?
        if global == .rebuildTensorV3 {
            guard case .global(.dtype(let type)) = arguments[6] else {
                throw fail("\(name)'s dtype is \(PickleDescriber.withArticle(arguments[6].kindName)), not a torch dtype")
            }
            dtype = type
        } else if heap.storages[storage].type == .untyped {
            throw fail("\(name) over an untyped storage needs a dtype (only _rebuild_tensor_v3 has one)")
        }
        heap.tensors.append(TorchTensorReference(storage: storage, storageOffset: storageOffset, size: size,
                                                 stride: stride, dtype: dtype))
        return .tensor(heap.tensors.count - 1)
    }

    /// `BUILD`: torch sets `_metadata` on a state dict's `OrderedDict` this way; it is kept, never interpreted as code.
    mutating func build(_ target: PickleValue, state: PickleValue) throws(PyTorchError) {
        guard case .dict(let index) = target else { throw fail("BUILD on \(PickleDescriber.withArticle(target.kindName)) (only dicts take state here)") }
        heap.dicts[index].attributes = state
    }

    /// A `('storage', storage_type, key, location, count)` persistent id, or the legacy format's
    /// `('storage', storage_type, key, location, count, view_metadata)` with `view_metadata` `None` (what every
    /// torch since 0.4 writes).
    mutating func persistentLoad(_ id: PickleValue) throws(PyTorchError) -> PickleValue {
        guard allowsStorages else {
            throw fail("a storage reference (BINPERSID) outside a torch.save archive, which has no storages to give")
        }
        guard case .tuple(let index) = id, [5, 6].contains(heap.tuples[index].count),
              case .string("storage") = heap.tuples[index][0] else {
            throw fail("a persistent id must be ('storage', storage_type, key, location, numel)")
        }
        let fields = heap.tuples[index]
        if fields.count == 6, fields[5] != .none {
            throw fail("a storage reference that is a view of another storage (legacy view_metadata, torch before "
                       + "0.4); re-save the file with a current torch.save")
        }
        guard case .global(.storageType(let type)) = fields[1] else {
            throw fail("a storage reference's type is \(PickleDescriber.withArticle(fields[1].kindName)), not a torch storage class")
        }
        guard case .string(let key) = fields[2], !key.isEmpty, !key.contains("/"), key != ".", key != ".." else {
            throw fail("a storage key must be a non-empty name without '/'")
        }
        guard case .string(let location) = fields[3] else { throw fail("storage '\(Self.printable(key))': the location is not a string") }
        guard case .int(let countValue) = fields[4], countValue >= 0, let count = Int(exactly: countValue) else {
            throw fail("storage '\(Self.printable(key))': the size is not a non-negative integer")
        }
        let reference = TorchStorageReference(type: type, key: key, location: location, count: count)
        if let existing = storageByKey[key] {
            guard heap.storages[existing] == reference else {
                throw fail("storage '\(Self.printable(key))' is referenced twice with different types or sizes")
            }
            return .storage(existing)
        }
        heap.storages.append(reference)
        storageByKey[key] = heap.storages.count - 1
        return .storage(heap.storages.count - 1)
    }
}
