import ModelKitCore

/// The globals a `torch.save` file may name: the allowlist (Specs/interop/pytorch.md, "Globals").
///
/// A pickle can name any importable Python object and call it (`GLOBAL os system` then `REDUCE`): that is how a
/// hostile `.pt` file runs code in `torch.load(weights_only=False)`. ModelKit never runs anything: each allowed
/// global below is a tag whose "call" the unpickler interprets itself (building a dict, recording a tensor view),
/// and every other name is refused when the `GLOBAL` opcode is read, before any argument is built. The list follows
/// `torch.load(weights_only=True)` for what real checkpoints hold (state dicts, optimizer and scheduler states),
/// minus tensor subclasses, sparse, quantized and meta tensors, and `add_safe_globals`.
enum PickleGlobal: Sendable, Equatable, Hashable {
    /// `collections.OrderedDict`: a state dict, and the empty backward-hooks dict of every tensor.
    case orderedDict
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    case rebuildTensorV2
    /// `torch._utils._rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])`:
    /// what torch ≥ 2.1 writes for dtypes without a legacy storage class (uint16, float8, …).
    case rebuildTensorV3
    /// `torch._utils._rebuild_parameter(data, requires_grad, hooks)`: an `nn.Parameter` saved directly.
    case rebuildParameter
    /// `torch._utils._rebuild_parameter_with_state(data, requires_grad, hooks, state)`.
    case rebuildParameterWithState
    /// `torch.FloatStorage`, …, `torch.storage.UntypedStorage`: the type in a storage's persistent id.
    case storageType(TorchStorageType)
    /// `torch.float32`, …: the dtype argument of `_rebuild_tensor_v3`.
    case dtype(TorchScalarType)
    /// `torch.Size(tuple)`.
    case size
    /// `builtins.set` / `builtins.frozenset` (written as `__builtin__` by protocol 2).
    case set, frozenset
    /// `_codecs.encode(text, 'latin1')`: how protocol 2 writes `bytes` values.
    case codecsEncode
    /// `collections.Counter(dict)`: a `MultiStepLR` scheduler's milestones.
    case counter
    /// `torch.device(type[, index])`: kept as text.
    case device
    /// `torch.nn.parameter.Parameter(data[, requires_grad])`: the tensor (torch allows it with `NEWOBJ` too).
    case parameter
    /// `builtins.bytearray(bytes)`: bytes.
    case bytearray
    /// `builtins.complex(real, imag)`: kept as text.
    case complex

    /// The global for `module.name`, or `nil` when it is not allowed.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor_v3"): self = .rebuildTensorV3
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch", "Size"): self = .size
        case ("builtins", "set"), ("__builtin__", "set"): self = .set
        case ("builtins", "frozenset"), ("__builtin__", "frozenset"): self = .frozenset
        case ("_codecs", "encode"): self = .codecsEncode
        case ("collections", "Counter"): self = .counter
        case ("torch", "device"): self = .device
        case ("torch.nn.parameter", "Parameter"): self = .parameter
        case ("builtins", "bytearray"), ("__builtin__", "bytearray"): self = .bytearray
        case ("builtins", "complex"), ("__builtin__", "complex"): self = .complex
        case ("torch.storage", "UntypedStorage"), ("torch", "UntypedStorage"): self = .storageType(.untyped)
        case ("torch", _):
            if let type = TorchScalarType.storageClasses[name] {
                self = .storageType(.typed(type))
            } else if let type = TorchScalarType(name: name) {
                self = .dtype(type)
            } else {
                return nil
            }
        default:
            return nil
        }
    }

    /// The dotted name, as Python would print it.
    var qualifiedName: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .rebuildTensorV2: "torch._utils._rebuild_tensor_v2"
        case .rebuildTensorV3: "torch._utils._rebuild_tensor_v3"
        case .rebuildParameter: "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: "torch._utils._rebuild_parameter_with_state"
        case .storageType(.untyped): "torch.storage.UntypedStorage"
        case .storageType(.typed(let type)): "torch.\(type.storageClassName ?? type.name + "Storage")"
        case .dtype(let type): "torch.\(type.name)"
        case .size: "torch.Size"
        case .set: "builtins.set"
        case .frozenset: "builtins.frozenset"
        case .codecsEncode: "_codecs.encode"
        case .counter: "collections.Counter"
        case .device: "torch.device"
        case .parameter: "torch.nn.parameter.Parameter"
        case .bytearray: "builtins.bytearray"
        case .complex: "builtins.complex"
        }
    }
}

/// The type named in a storage's persistent id.
enum TorchStorageType: Sendable, Equatable, Hashable {
    /// A legacy typed storage (`torch.FloatStorage`): its count is in elements.
    case typed(TorchScalarType)
    /// `torch.storage.UntypedStorage`: its count is in bytes and the dtype comes from `_rebuild_tensor_v3`.
    case untyped
}

/// A torch dtype, by its name in `torch.<name>`. Those ModelKit has a ``DType`` for can be read; the others are
/// recognised (so the error says "dtype complex64 is not supported" rather than "refusing global").
struct TorchScalarType: Sendable, Equatable, Hashable {
    /// `float32`, `complex64`, `float8_e4m3fn`, …
    let name: String
    /// Bytes per element, when known.
    let byteSize: Int?
    /// The ModelKit dtype, when there is one.
    let dtype: DType?

    /// The scalar type called `name` (`torch.<name>`), or `nil` for names that are not dtypes.
    init?(name: String) {
        guard let entry = TorchScalarType.known[name] else { return nil }
        self = entry
    }

    private init(_ name: String, _ byteSize: Int?, _ dtype: DType?) {
        self.name = name
        self.byteSize = byteSize
        self.dtype = dtype
    }

    /// The scalar type of a ModelKit dtype.
    init(_ dtype: DType) {
        self.init(Self.names[dtype] ?? dtype.rawValue, dtype.byteSize, dtype)
    }

    /// The legacy storage class for this type (`FloatStorage`), if torch has one.
    var storageClassName: String? {
        TorchScalarType.storageClasses.first { $0.value == self }?.key
    }

    private static let names: [DType: String] = [
        .float32: "float32", .float16: "float16", .bfloat16: "bfloat16", .float64: "float64", .int64: "int64",
        .int32: "int32", .int16: "int16", .int8: "int8", .uint8: "uint8", .bool: "bool",
    ]

    /// Canonical dtype names (what `str(torch.float32)` gives without the `torch.` prefix).
    private static let known: [String: TorchScalarType] = {
        var table: [String: TorchScalarType] = [:]
        for (dtype, name) in names { table[name] = TorchScalarType(name, dtype.byteSize, dtype) }
        let others: [(String, Int?)] = [
            ("uint16", 2), ("uint32", 4), ("uint64", 8), ("complex32", 4), ("complex64", 8), ("complex128", 16),
            ("float8_e4m3fn", 1), ("float8_e5m2", 1), ("float8_e4m3fnuz", 1), ("float8_e5m2fnuz", 1),
            ("float8_e8m0fnu", 1), ("float4_e2m1fn_x2", 1), ("quint8", 1), ("qint8", 1), ("qint32", 4),
            ("quint4x2", 1), ("quint2x4", 1), ("bits8", 1), ("bits16", 2), ("bits1x8", 1), ("bits2x4", 1),
            ("bits4x2", 1), ("uint1", nil), ("uint2", nil), ("uint3", nil), ("uint4", nil), ("uint5", nil),
            ("uint6", nil), ("uint7", nil), ("int1", nil), ("int2", nil), ("int3", nil), ("int4", nil),
            ("int5", nil), ("int6", nil), ("int7", nil),
        ]
        for (name, size) in others { table[name] = TorchScalarType(name, size, nil) }
        return table
    }()

    /// torch's legacy typed storage classes (`torch.FloatStorage`, …) and their element types.
    static let storageClasses: [String: TorchScalarType] = {
        let pairs: [(String, String)] = [
            ("FloatStorage", "float32"), ("HalfStorage", "float16"), ("BFloat16Storage", "bfloat16"),
            ("DoubleStorage", "float64"), ("LongStorage", "int64"), ("IntStorage", "int32"), ("ShortStorage", "int16"),
            ("CharStorage", "int8"), ("ByteStorage", "uint8"), ("BoolStorage", "bool"),
            ("ComplexFloatStorage", "complex64"), ("ComplexDoubleStorage", "complex128"), ("QUInt8Storage", "quint8"),
            ("QInt8Storage", "qint8"), ("QInt32Storage", "qint32"), ("QUInt4x2Storage", "quint4x2"),
            ("QUInt2x4Storage", "quint2x4"),
        ]
        var table: [String: TorchScalarType] = [:]
        for (storage, dtype) in pairs { table[storage] = known[dtype] }
        return table
    }()
}
