import ModelKitCore

/// A value built by ``RestrictedUnpickler``: only data, never code.
///
/// Containers are not nested enums but indices into a ``PickleHeap``. That gives pickle's reference semantics (an
/// `APPENDS` to a list reaches every memo reference to it), and it keeps hostile input from building values so
/// deeply nested that releasing them would overflow the stack: the heap is flat however deep the structure is.
enum PickleValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer that does not fit in 64 bits: its little-endian two's-complement bytes, as `LONG1` stores them.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    /// Index into ``PickleHeap/tuples``.
    case tuple(Int)
    /// Index into ``PickleHeap/lists``.
    case list(Int)
    /// Index into ``PickleHeap/sets`` (a `set` or `frozenset`).
    case set(Int)
    /// Index into ``PickleHeap/dicts``.
    case dict(Int)
    /// Index into ``PickleHeap/tensors``.
    case tensor(Int)
    /// Index into ``PickleHeap/storages``.
    case storage(Int)
    /// An allowed global (a type, a rebuild function, a dtype); calling it is interpreted, never executed.
    case global(PickleGlobal)
    /// Index into ``PickleHeap/objects``: a value ModelKit keeps only as text (`torch.device`, `complex`).
    case object(Int)

    /// What kind of value this is, for error messages.
    var kindName: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int, .bigInt: "integer"
        case .float: "float"
        case .string: "string"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .set: "set"
        case .dict: "dict"
        case .tensor: "tensor"
        case .storage: "storage"
        case .global(let global): "global \(MessageText.quoted(global.qualifiedName))"
        case .object: "object"
        }
    }
}

/// A dict as pickle builds it: insertion-ordered, a repeated key replaces the earlier value (Python semantics).
struct PickleDict: Sendable {
    private(set) var keys: [PickleValue] = []
    private(set) var values: [PickleValue] = []
    private var index: [PickleKey: Int] = [:]
    /// Made by `collections.OrderedDict` rather than `{}`.
    var isOrdered = false
    /// Made by `collections.Counter` (a `MultiStepLR` scheduler's milestones): a dict of counts.
    var isCounter = false
    /// The state a `BUILD` set on the object (for a state dict: `{'_metadata': OrderedDict(...)}`).
    var attributes: PickleValue?

    var count: Int { keys.count }

    mutating func set(_ key: PickleValue, _ value: PickleValue, hashKey: PickleKey) {
        if let existing = index[hashKey] {
            values[existing] = value
        } else {
            index[hashKey] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    func value(for key: PickleKey) -> PickleValue? {
        index[key].map { values[$0] }
    }
}

/// The hashable form of a dict key. Python refuses unhashable keys (lists, dicts); so do we.
enum PickleKey: Hashable, Sendable {
    case none
    case int(Int64)
    case bigInt([UInt8])
    case float(UInt64)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleKey])
    case tensor(Int)
    case global(String)
    /// A ``PickleObject``: its type and text (`torch.device` 'cpu' equals another 'cpu').
    case object(String, String)
}

/// A value that is neither data ModelKit uses nor a container, kept as its type and a printable form so a checkpoint
/// that holds one still loads (`torch.device('cuda', 0)` → `torch.device`, `cuda:0`).
struct PickleObject: Sendable, Equatable {
    /// `torch.device`, `complex`.
    var typeName: String
    /// `cuda:0`, `(1.5-2j)`.
    var text: String
}

/// A `('storage', storage_type, key, location, numel)` persistent id: a reference to `data/<key>` in the archive.
struct TorchStorageReference: Sendable, Equatable {
    var type: TorchStorageType
    /// The record name under `<archive>/data/`.
    var key: String
    /// Where the tensor lived when saved (`cpu`, `cuda:0`); ModelKit always loads to memory.
    var location: String
    /// Elements for a typed storage, bytes for an untyped one.
    var count: Int
}

/// A call of `torch._utils._rebuild_tensor_v2/v3`: which storage, and how the tensor views it.
struct TorchTensorReference: Sendable, Equatable {
    /// Index into ``PickleHeap/storages``.
    var storage: Int
    /// In elements.
    var storageOffset: Int
    var size: [Int]
    /// In elements.
    var stride: [Int]
    /// From `_rebuild_tensor_v3`, whose storage is untyped; `nil` takes the storage's own type.
    var dtype: TorchScalarType?
}

/// Every value the unpickler made, referred to by index from ``PickleValue``.
struct PickleHeap: Sendable {
    var tuples: [[PickleValue]] = []
    var lists: [[PickleValue]] = []
    var sets: [[PickleValue]] = []
    var dicts: [PickleDict] = []
    var tensors: [TorchTensorReference] = []
    var storages: [TorchStorageReference] = []
    var objects: [PickleObject] = []
}
