/// Emits pickle protocol 2 opcodes, the way Python's pickler writes them for `torch.save`.
///
/// Only what a state dict needs: strings, integers, tuples, globals, the memo, and the structural opcodes the
/// caller writes itself with ``op(_:)``.
struct PickleWriter {
    /// The pickle so far, starting with `PROTO 2`.
    private(set) var bytes: [UInt8] = [Opcode.proto, 2]
    private var memoSize = 0
    private var memoized: [String: Int] = [:]

    /// Opcodes used by the state dict writer.
    enum Opcode {
        static let proto: UInt8 = 0x80
        static let stop: UInt8 = 0x2E
        static let mark: UInt8 = 0x28
        static let emptyTuple: UInt8 = 0x29
        static let emptyDict: UInt8 = 0x7D
        static let tuple: UInt8 = 0x74
        static let tuple1: UInt8 = 0x85
        static let tuple2: UInt8 = 0x86
        static let tuple3: UInt8 = 0x87
        static let reduce: UInt8 = 0x52
        static let build: UInt8 = 0x62
        static let setItem: UInt8 = 0x73
        static let setItems: UInt8 = 0x75
        static let binPersId: UInt8 = 0x51
        static let newFalse: UInt8 = 0x89
    }

    mutating func op(_ code: UInt8) { bytes.append(code) }

    /// `BINUNICODE`.
    mutating func string(_ text: String) {
        let utf8 = Array(text.utf8)
        bytes.append(0x58)
        append(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// The smallest integer opcode, as Python chooses: `BININT1`, `BININT2`, `BININT`, else `LONG1`.
    mutating func integer(_ value: Int) {
        switch value {
        case 0...0xFF:
            bytes.append(0x4B)
            bytes.append(UInt8(value))
        case 0x100...0xFFFF:
            bytes.append(0x4D)
            append(UInt16(value))
        case Int(Int32.min)...Int(Int32.max):
            bytes.append(0x4A)
            append(UInt32(bitPattern: Int32(value)))
        default:
            // LONG1: little-endian two's complement, without redundant sign bytes.
            var payload = withUnsafeBytes(of: Int64(value).littleEndian, Array.init)
            while payload.count > 1, let last = payload.last,
                  (last == 0x00 && payload[payload.count - 2] & 0x80 == 0) || (last == 0xFF && payload[payload.count - 2] & 0x80 != 0) {
                payload.removeLast()
            }
            bytes.append(0x8A)
            bytes.append(UInt8(payload.count))
            bytes.append(contentsOf: payload)
        }
    }

    /// A tuple of integers (`EMPTY_TUPLE`, `TUPLE1`…`TUPLE3`, or `MARK … TUPLE`).
    mutating func tuple(_ values: [Int]) {
        if values.count > 3 { op(Opcode.mark) }
        for value in values { integer(value) }
        switch values.count {
        case 0: op(Opcode.emptyTuple)
        case 1: op(Opcode.tuple1)
        case 2: op(Opcode.tuple2)
        case 3: op(Opcode.tuple3)
        default: op(Opcode.tuple)
        }
    }

    /// `GLOBAL module\nname\n`.
    mutating func global(_ module: String, _ name: String) {
        bytes.append(0x63)
        bytes.append(contentsOf: Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A])
    }

    /// Writes the value `emit` produces the first time `key` is seen and memoizes it; later, fetches it from the memo.
    mutating func memo(_ key: String, _ emit: (inout PickleWriter) -> Void) {
        if let index = memoized[key] {
            get(index)
        } else {
            emit(&self)
            memoized[key] = put()
        }
    }

    /// `BINPUT`/`LONG_BINPUT` of the value on top of the stack; returns its memo index.
    @discardableResult
    mutating func put() -> Int {
        let index = memoSize
        memoSize += 1
        if index <= 0xFF {
            bytes.append(0x71)
            bytes.append(UInt8(index))
        } else {
            bytes.append(0x72)
            append(UInt32(index))
        }
        return index
    }

    /// `BINGET`/`LONG_BINGET`.
    mutating func get(_ index: Int) {
        if index <= 0xFF {
            bytes.append(0x68)
            bytes.append(UInt8(index))
        } else {
            bytes.append(0x6A)
            append(UInt32(index))
        }
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
