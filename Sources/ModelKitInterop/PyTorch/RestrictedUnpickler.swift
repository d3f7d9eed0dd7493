import ModelKitCore

/// Our own pickle reader for the `data.pkl` of a `torch.save` archive: a small stack machine that understands the
/// opcodes torch writes for tensors and containers and nothing else (Specs/interop/pytorch.md, "Opcodes").
///
/// Python's `pickle.load` imports and calls whatever the file names; this reader calls nothing. A `GLOBAL` must be
/// on the allowlist (``PickleGlobal``) or the read stops right there, naming it; `REDUCE` on an allowed global is
/// interpreted here (an `OrderedDict()` becomes an empty dict, `_rebuild_tensor_v2(...)` becomes a recorded view).
/// Every length is checked against the bytes left, and the stack, nesting, memo and number of objects are capped.
struct RestrictedUnpickler {
    /// Bounds on what a pickle may make us hold. A real state dict stays far below each.
    struct Limits: Sendable {
        /// Values on the stack at once (torch writes dict items in batches of 1,000).
        var maximumStackDepth = 1_000_000
        /// Open `MARK`s at once: how deeply tuples, lists and dicts may nest while being built.
        var maximumNesting = 1_000
        /// Memo entries.
        var maximumMemoEntries = 4_000_000
        /// Values pushed in total (bounds the work on a small hostile file).
        var maximumObjects = 20_000_000
        /// Length of a `GLOBAL` module or name line.
        var maximumGlobalLength = 1_024
    }

    /// The first pickle in `bytes` and every container and tensor reference it built.
    ///
    /// - Parameters:
    ///   - source: The name used in errors (`model.pt[archive/data.pkl]`).
    ///   - allowsStorages: Whether persistent ids (storage references) may appear: true inside a `torch.save`
    ///     archive, false for a raw pickle stream.
    /// - Throws: ``PyTorchError/refusedGlobal(source:offset:global:)`` for any global outside the allowlist,
    ///   ``PyTorchError/unsupportedOpcode(source:offset:opcode:name:)``, ``PyTorchError/malformedPickle(source:offset:reason:)``,
    ///   ``PyTorchError/pickleLimit(source:offset:what:limit:)``.
    static func load(_ bytes: UnsafeRawBufferPointer, source: String, allowsStorages: Bool,
                     limits: Limits = Limits()) throws(PyTorchError) -> (root: PickleValue, heap: PickleHeap) {
        var machine = RestrictedUnpickler(reader: ByteReader(bytes), source: source, allowsStorages: allowsStorages,
                                          limits: limits)
        let root = try machine.run()
        return (root, machine.heap)
    }

    /// Like ``load(_:source:allowsStorages:limits:)`` for a pickle that more data follows (the legacy `torch.save`
    /// stream is several pickles, then raw storages): also returns how many bytes the pickle took, STOP included.
    static func loadPrefix(_ bytes: UnsafeRawBufferPointer, source: String, allowsStorages: Bool,
                           limits: Limits = Limits()) throws(PyTorchError) -> (root: PickleValue, heap: PickleHeap, length: Int) {
        var machine = RestrictedUnpickler(reader: ByteReader(bytes), source: source, allowsStorages: allowsStorages,
                                          limits: limits)
        let root = try machine.run()
        return (root, machine.heap, machine.reader.offset)
    }

    // The state below is internal (not private) because the interpretation of calls lives in
    // RestrictedUnpickler+Calls.swift.
    private var reader: ByteReader
    let source: String
    let allowsStorages: Bool
    private let limits: Limits
    private var stack: [PickleValue] = []
    /// Stack positions of the open `MARK`s.
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    var heap = PickleHeap()
    private var pushes = 0
    var storageByKey: [String: Int] = [:]
    /// Where the opcode being executed starts, for error messages.
    private var opcodeOffset = 0

    private init(reader: ByteReader, source: String, allowsStorages: Bool, limits: Limits) {
        self.reader = reader
        self.source = source
        self.allowsStorages = allowsStorages
        self.limits = limits
    }

    // MARK: - The machine

    private mutating func run() throws(PyTorchError) -> PickleValue {
        while true {
            opcodeOffset = reader.offset
            guard !reader.isAtEnd else { throw fail("the pickle ends without a STOP opcode (truncated)") }
            let code = try readByte("an opcode")
            switch code {
            case 0x80:  // PROTO
                let version = try readByte("PROTO")
                guard version <= 5 else { throw fail("pickle protocol \(version) is newer than any Python writes (5)") }
            case 0x95:  // FRAME: only a hint for buffered readers; the length must still be plausible
                let length = try read(UInt64.self, "FRAME")
                guard length <= UInt64(reader.remaining) else {
                    throw fail("a FRAME of \(length) bytes, but only \(reader.remaining) remain (truncated)")
                }
            case 0x2E:  // STOP
                guard marks.isEmpty else { throw fail("STOP with an unclosed MARK") }
                guard stack.count == 1, let result = stack.first else {
                    throw fail("STOP with \(stack.count) values on the stack instead of one")
                }
                return result
            case 0x7D: try push(newDict(ordered: false))                       // EMPTY_DICT
            case 0x5D: try push(new(list: []))                                 // EMPTY_LIST
            case 0x29: try push(new(tuple: []))                                // EMPTY_TUPLE
            case 0x8F:                                                         // EMPTY_SET (ADDITEMS is not read, as in torch)
                heap.sets.append([])
                try push(.set(heap.sets.count - 1))
            case 0x28:                                                         // MARK
                guard marks.count < limits.maximumNesting else { throw limit("nested MARKs", limits.maximumNesting) }
                marks.append(stack.count)
            case 0x58: try push(.string(try readString(length: try readLength(UInt32.self, "BINUNICODE"))))
            case 0x8C: try push(.string(try readString(length: Int(try readByte("SHORT_BINUNICODE")))))
            case 0x8D: try push(.string(try readString(length: try readLength(UInt64.self, "BINUNICODE8"))))
            case 0x55: try push(.string(try readString(length: Int(try readByte("SHORT_BINSTRING")))))  // decoded as torch.load does (UTF-8)
            case 0x43: try push(.bytes(try readBytes(Int(try readByte("SHORT_BINBYTES")), "SHORT_BINBYTES")))
            case 0x42: try push(.bytes(try readBytes(try readLength(UInt32.self, "BINBYTES"), "BINBYTES")))
            case 0x8E: try push(.bytes(try readBytes(try readLength(UInt64.self, "BINBYTES8"), "BINBYTES8")))
            case 0x4A: try push(.int(Int64(try read(Int32.self, "BININT"))))
            case 0x4B: try push(.int(Int64(try readByte("BININT1"))))
            case 0x4D: try push(.int(Int64(try read(UInt16.self, "BININT2"))))
            case 0x8A: try push(try readLong1())
            case 0x47:  // BINFLOAT: big-endian, unlike every other number in a pickle
                let bits: UInt64
                do { bits = try reader.readBigEndian(UInt64.self) } catch { throw truncated(error, "BINFLOAT") }
                try push(.float(Double(bitPattern: bits)))
            case 0x88: try push(.bool(true))                                   // NEWTRUE
            case 0x89: try push(.bool(false))                                  // NEWFALSE
            case 0x4E: try push(.none)                                         // NONE
            case 0x74: try push(new(tuple: try popMark()))                     // TUPLE
            case 0x85: try push(new(tuple: [try pop()]))                       // TUPLE1
            case 0x86:                                                         // TUPLE2
                let second = try pop(), first = try pop()
                try push(new(tuple: [first, second]))
            case 0x87:                                                         // TUPLE3
                let third = try pop(), second = try pop(), first = try pop()
                try push(new(tuple: [first, second, third]))
            case 0x6C: try push(new(list: try popMark()))                      // LIST
            case 0x64:                                                         // DICT
                let dict = try newDict(ordered: false)
                try setItems(try popMark(), into: dict)
                try push(dict)
            case 0x61:                                                         // APPEND
                let item = try pop()
                try append([item], to: try top())
            case 0x65:                                                         // APPENDS
                let items = try popMark()
                try append(items, to: try top())
            case 0x73:                                                         // SETITEM
                let value = try pop(), key = try pop()
                try setItems([key, value], into: try top())
            case 0x75:                                                         // SETITEMS
                let items = try popMark()
                try setItems(items, into: try top())
            case 0x71: try memoize(at: Int(try readByte("BINPUT")))            // BINPUT
            case 0x72: try memoize(at: Int(try read(UInt32.self, "LONG_BINPUT")))
            case 0x94: try memoize(at: memo.count)                             // MEMOIZE
            case 0x68: try push(try memoValue(Int(try readByte("BINGET"))))    // BINGET
            case 0x6A: try push(try memoValue(Int(try read(UInt32.self, "LONG_BINGET"))))
            case 0x63:                                                         // GLOBAL
                let module = try readLine("GLOBAL module")
                let name = try readLine("GLOBAL name")
                try push(.global(try resolve(module: module, name: name)))
            case 0x93:                                                         // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let moduleText) = module, case .string(let nameText) = name else {
                    throw fail("STACK_GLOBAL needs two strings, found \(PickleDescriber.withArticle(module.kindName)) and \(PickleDescriber.withArticle(name.kindName))")
                }
                try push(.global(try resolve(module: moduleText, name: nameText)))
            case 0x52:                                                         // REDUCE
                let arguments = try pop(), callable = try pop()
                try push(try reduce(callable, arguments))
            case 0x81:                                                         // NEWOBJ
                let arguments = try pop(), callable = try pop()
                try push(try newObject(callable, arguments))
            case 0x62:                                                         // BUILD
                let state = try pop()
                try build(try top(), state: state)
            case 0x51:                                                         // BINPERSID
                try push(try persistentLoad(try pop()))
            default:
                throw .unsupportedOpcode(source: source, offset: opcodeOffset, opcode: code, name: Self.opcodeName(code))
            }
        }
    }

    // MARK: - Stack, marks and memo

    private mutating func push(_ value: PickleValue) throws(PyTorchError) {
        guard stack.count < limits.maximumStackDepth else { throw limit("values on the stack", limits.maximumStackDepth) }
        pushes += 1
        guard pushes <= limits.maximumObjects else { throw limit("objects", limits.maximumObjects) }
        stack.append(value)
    }

    /// Pops the top value; a value below the innermost MARK belongs to an outer structure and cannot be popped.
    private mutating func pop() throws(PyTorchError) -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.popLast() else { throw fail("stack underflow") }
        return value
    }

    private func top() throws(PyTorchError) -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.last else { throw fail("stack underflow") }
        return value
    }

    private mutating func popMark() throws(PyTorchError) -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail("no MARK to collect items from") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func memoize(at index: Int) throws(PyTorchError) {
        let value = try top()
        if memo[index] == nil, memo.count >= limits.maximumMemoEntries {
            throw limit("memo entries", limits.maximumMemoEntries)
        }
        memo[index] = value
    }

    private func memoValue(_ index: Int) throws(PyTorchError) -> PickleValue {
        guard let value = memo[index] else { throw fail("memo entry \(index) is read before it is written") }
        return value
    }

    // MARK: - Containers

    mutating func new(tuple items: [PickleValue]) -> PickleValue {
        heap.tuples.append(items)
        return .tuple(heap.tuples.count - 1)
    }

    mutating func new(list items: [PickleValue]) -> PickleValue {
        heap.lists.append(items)
        return .list(heap.lists.count - 1)
    }

    mutating func newDict(ordered: Bool) throws(PyTorchError) -> PickleValue {
        var dict = PickleDict()
        dict.isOrdered = ordered
        heap.dicts.append(dict)
        return .dict(heap.dicts.count - 1)
    }

    private mutating func append(_ items: [PickleValue], to target: PickleValue) throws(PyTorchError) {
        guard case .list(let index) = target else { throw fail("APPEND to \(PickleDescriber.withArticle(target.kindName)), not a list") }
        heap.lists[index].append(contentsOf: items)
    }

    mutating func setItems(_ items: [PickleValue], into target: PickleValue) throws(PyTorchError) {
        guard case .dict(let index) = target else { throw fail("SETITEM on \(PickleDescriber.withArticle(target.kindName)), not a dict") }
        guard items.count.isMultiple(of: 2) else { throw fail("SETITEMS with an odd number of values (\(items.count))") }
        for pair in stride(from: 0, to: items.count, by: 2) {
            let key = try hashKey(items[pair], depth: 0)
            heap.dicts[index].set(items[pair], items[pair + 1], hashKey: key)
        }
    }

    /// The hashable form of a dict key, as Python would accept it (`True` and `1` are the same key).
    private func hashKey(_ value: PickleValue, depth: Int) throws(PyTorchError) -> PickleKey {
        switch value {
        case .none: return .none
        case .bool(let flag): return .int(flag ? 1 : 0)
        case .int(let number): return .int(number)
        case .bigInt(let bytes): return .bigInt(bytes)
        case .float(let number):
            if number == number.rounded(), let integer = Int64(exactly: number) { return .int(integer) }
            return .float(number.bitPattern)
        case .string(let text): return .string(text)
        case .bytes(let bytes): return .bytes(bytes)
        case .tensor(let index): return .tensor(index)
        case .global(let global): return .global(global.qualifiedName)
        case .object(let index): return .object(heap.objects[index].typeName, heap.objects[index].text)
        case .tuple(let index):
            guard depth < 32 else { throw fail("a dict key nested more than 32 tuples deep") }
            var keys: [PickleKey] = []
            for item in heap.tuples[index] { keys.append(try hashKey(item, depth: depth + 1)) }
            return .tuple(keys)
        case .list, .set, .dict, .storage:
            throw fail("\(PickleDescriber.withArticle(value.kindName)) cannot be a dict key (unhashable)")
        }
    }

    // MARK: - Globals, calls and state

    private func resolve(module: String, name: String) throws(PyTorchError) -> PickleGlobal {
        guard let global = PickleGlobal(module: module, name: name) else {
            throw .refusedGlobal(source: source, offset: opcodeOffset, global: module + "." + name)
        }
        return global
    }

    func sequenceItems(_ value: PickleValue, _ what: String) throws(PyTorchError) -> [PickleValue] {
        switch value {
        case .tuple(let index): return heap.tuples[index]
        case .list(let index): return heap.lists[index]
        case .set(let index): return heap.sets[index]
        default: throw fail("\(what) is \(PickleDescriber.withArticle(value.kindName)), not a tuple or list")
        }
    }

    func integers(_ value: PickleValue, _ what: String, minimum: Int64) throws(PyTorchError) -> [Int] {
        guard case .tuple(let index) = value else { throw fail("\(what) is \(PickleDescriber.withArticle(value.kindName)), not a tuple") }
        var result: [Int] = []
        for item in heap.tuples[index] {
            guard case .int(let number) = item, number >= minimum, let integer = Int(exactly: number) else {
                throw fail("\(what) must hold integers ≥ \(minimum)")
            }
            result.append(integer)
        }
        return result
    }

    // MARK: - Reading operands

    private mutating func readByte(_ what: String) throws(PyTorchError) -> UInt8 {
        try read(UInt8.self, what)
    }

    private mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws(PyTorchError) -> T {
        do { return try reader.read(type) } catch { throw truncated(error, what) }
    }

    /// A length operand, which must not exceed the bytes left (so nothing is allocated from a lie).
    private mutating func readLength<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws(PyTorchError) -> Int {
        let value = try read(type, what)
        guard let length = Int(exactly: value), length <= reader.remaining else {
            throw fail("\(what) claims \(value) bytes but only \(reader.remaining) remain (truncated or corrupt)")
        }
        return length
    }

    private mutating func readBytes(_ count: Int, _ what: String) throws(PyTorchError) -> [UInt8] {
        do { return Array(try reader.readBytes(count)) } catch { throw truncated(error, what) }
    }

    private mutating func readString(length: Int) throws(PyTorchError) -> String {
        let raw: UnsafeRawBufferPointer
        do { raw = try reader.readBytes(length) } catch { throw truncated(error, "a string") }
        guard let text = String(validating: raw, as: UTF8.self) else { throw fail("a string that is not valid UTF-8") }
        return text
    }

    /// A newline-terminated line of `GLOBAL`, bounded in length.
    private mutating func readLine(_ what: String) throws(PyTorchError) -> String {
        let start = reader.offset
        let end = min(reader.bytes.count, start + limits.maximumGlobalLength + 1)
        guard let newline = reader.bytes[start..<end].firstIndex(of: 0x0A) else {
            if end == reader.bytes.count { throw fail("the \(what) line has no end (truncated)") }
            throw limit("characters in a \(what)", limits.maximumGlobalLength)
        }
        let text = try readString(length: newline - start)
        _ = try readByte(what)
        return text
    }

    private mutating func readLong1() throws(PyTorchError) -> PickleValue {
        let count = Int(try readByte("LONG1"))
        let bytes = try readBytes(count, "LONG1")
        guard let last = bytes.last else { return .int(0) }
        let negative = last & 0x80 != 0
        // Beyond 8 bytes, the value fits in Int64 only if the extra bytes are pure sign extension.
        if count > 8 {
            let fill: UInt8 = negative ? 0xFF : 0x00
            guard bytes[8...].allSatisfy({ $0 == fill }), (bytes[7] & 0x80 != 0) == negative else { return .bigInt(bytes) }
        }
        var value: UInt64 = negative ? .max : 0
        for (index, byte) in bytes.prefix(8).enumerated() {
            value &= ~(UInt64(0xFF) << (8 * index))
            value |= UInt64(byte) << (8 * index)
        }
        return .int(Int64(bitPattern: value))
    }

    // MARK: - Errors

    func fail(_ reason: String) -> PyTorchError {
        .malformedPickle(source: source, offset: opcodeOffset, reason: reason)
    }

    private func limit(_ what: String, _ value: Int) -> PyTorchError {
        .pickleLimit(source: source, offset: opcodeOffset, what: what, limit: value)
    }

    private func truncated(_ error: ByteReaderError, _ what: String) -> PyTorchError {
        fail("the pickle ends inside \(what) (truncated): \(error)")
    }

    /// `text` with control characters escaped and cut to 200 characters, so a hostile name cannot break an error
    /// message into lines or drive the terminal.
    static func printable(_ text: String) -> String {
        MessageText.escaped(text, limit: 200)
    }

    /// Names of the pickle opcodes we do not implement, for the error message.
    static func opcodeName(_ code: UInt8) -> String {
        let names: [UInt8: String] = [
            0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT", 0x4C: "LONG", 0x50: "PERSID",
            0x53: "STRING", 0x54: "BINSTRING", 0x56: "UNICODE", 0x67: "GET", 0x69: "INST",
            0x6F: "OBJ", 0x70: "PUT", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x8B: "LONG4",
            0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x96: "BYTEARRAY8",
            0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
        ]
        return names[code] ?? "(unknown)"
    }
}
