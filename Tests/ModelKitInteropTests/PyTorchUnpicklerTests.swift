import ModelKitCore
@testable import ModelKitInterop
import XCTest

/// The restricted unpickler opcode by opcode, on pickles built from bytes (the layouts follow `pickletools.dis` of
/// what Python writes).
final class PyTorchUnpicklerTests: XCTestCase {
    func load(_ bytes: [UInt8], storages: Bool = true,
              limits: RestrictedUnpickler.Limits = .init()) throws -> (root: PickleValue, heap: PickleHeap) {
        try bytes.withUnsafeBytes { raw in
            try RestrictedUnpickler.load(raw, source: "test.pkl", allowsStorages: storages, limits: limits)
        }
    }

    func value(_ body: [UInt8]) throws -> PickleValue { try load([0x80, 0x02] + body + [0x2E]).root }

    func failure(_ bytes: [UInt8], storages: Bool = true, limits: RestrictedUnpickler.Limits = .init(),
                 file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try load(bytes, storages: storages, limits: limits)
            XCTFail("accepted", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }

    static func unicode(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        return [0x58] + withUnsafeBytes(of: UInt32(utf8.count).littleEndian, Array.init) + utf8
    }

    static func global(_ module: String, _ name: String) -> [UInt8] {
        [0x63] + Array("\(module)\n\(name)\n".utf8)
    }

    func test_P4_scalars() throws {
        XCTAssertEqual(try value([0x4B, 0xFF]), .int(255))                                  // BININT1
        XCTAssertEqual(try value([0x4D, 0x2C, 0x01]), .int(300))                            // BININT2
        XCTAssertEqual(try value([0x4A, 0xFB, 0xFF, 0xFF, 0xFF]), .int(-5))                 // BININT
        XCTAssertEqual(try value([0x8A, 0x00]), .int(0))                                    // LONG1 of 0 bytes
        XCTAssertEqual(try value([0x8A, 0x05, 0x00, 0x00, 0x00, 0x00, 0x80]), .int(-(1 << 39)))
        XCTAssertEqual(try value([0x8A, 0x09] + [UInt8](repeating: 0xFF, count: 8) + [0x00]), .bigInt([UInt8](repeating: 0xFF, count: 8) + [0]))
        XCTAssertEqual(try value([0x8A, 0x09, 0x01] + [UInt8](repeating: 0, count: 8)), .int(1))  // redundant sign bytes
        XCTAssertEqual(try value([0x47, 0x3F, 0xD0, 0, 0, 0, 0, 0, 0]), .float(0.25))       // BINFLOAT is big-endian
        XCTAssertEqual(try value([0x88]), .bool(true))
        XCTAssertEqual(try value([0x89]), .bool(false))
        XCTAssertEqual(try value([0x4E]), .none)
        XCTAssertEqual(try value(Self.unicode("0.weight")), .string("0.weight"))
        XCTAssertEqual(try value([0x8C, 0x03] + Array("hé".utf8)), .string("hé"))
    }

    func test_P4_stringsAndBytesAcrossProtocols() throws {
        XCTAssertEqual(try value([0x8C, 0x03] + Array("abc".utf8)), .string("abc"))                        // SHORT_BINUNICODE
        XCTAssertEqual(try value([0x8D, 0x02, 0, 0, 0, 0, 0, 0, 0] + Array("hi".utf8)), .string("hi"))      // BINUNICODE8
        XCTAssertEqual(try value([0x43, 0x02, 0xAB, 0xCD]), .bytes([0xAB, 0xCD]))                           // SHORT_BINBYTES
        XCTAssertEqual(try value([0x42, 0x01, 0, 0, 0, 0x07]), .bytes([0x07]))                              // BINBYTES
        // Protocol 2 writes bytes as _codecs.encode(text, 'latin1').
        XCTAssertEqual(try value(Self.global("_codecs", "encode") + Self.unicode("\u{00FF}a") + Self.unicode("latin1") + [0x86, 0x52]),
                       .bytes([0xFF, 0x61]))
    }

    func test_P4_containersMemoAndReferenceSemantics() throws {
        // A list memoized while empty, filled by APPENDS, then fetched from the memo: the memo sees the items.
        let (root, heap) = try load([0x80, 0x02, 0x28, 0x5D, 0x71, 0x00, 0x28, 0x4B, 0x01, 0x4B, 0x02, 0x65, 0x68, 0x00, 0x74, 0x2E])
        guard case .tuple(let tuple) = root, case .list(let first) = heap.tuples[tuple][0], case .list(let second) = heap.tuples[tuple][1] else {
            return XCTFail("\(root)")
        }
        XCTAssertEqual(first, second, "one list, two references")
        XCTAssertEqual(heap.lists[first], [.int(1), .int(2)])

        // Dicts: SETITEM, SETITEMS, a repeated key replaces (True and 1 are the same key, as in Python).
        let (dictRoot, dictHeap) = try load([0x80, 0x02, 0x7D, 0x28, 0x4B, 0x01, 0x4B, 0x0A, 0x88, 0x4B, 0x0B, 0x75] + Self.unicode("a") + [0x4E, 0x73, 0x2E])
        guard case .dict(let dict) = dictRoot else { return XCTFail("\(dictRoot)") }
        XCTAssertEqual(dictHeap.dicts[dict].keys, [.int(1), .string("a")])
        XCTAssertEqual(dictHeap.dicts[dict].values, [.int(11), .none])

        // MEMOIZE (protocol 4) numbers entries from 0.
        let (memoRoot, memoHeap) = try load([0x80, 0x04, 0x4B, 0x05, 0x94, 0x68, 0x00, 0x86, 0x2E])
        guard case .tuple(let pair) = memoRoot else { return XCTFail() }
        XCTAssertEqual(memoHeap.tuples[pair], [.int(5), .int(5)])
    }

    func test_P6_allowedGlobalsAreInterpretedNotCalled() throws {
        let (ordered, heap) = try load([0x80, 0x02] + Self.global("collections", "OrderedDict") + [0x5D, 0x28]
                                       + Self.unicode("k") + [0x4B, 0x01, 0x86, 0x65, 0x85, 0x52, 0x2E])
        guard case .dict(let index) = ordered else { return XCTFail("\(ordered)") }
        XCTAssertTrue(heap.dicts[index].isOrdered)
        XCTAssertEqual(heap.dicts[index].values, [.int(1)])

        let (size, sizeHeap) = try load([0x80, 0x02] + Self.global("torch", "Size") + [0x4B, 0x02, 0x4B, 0x03, 0x86, 0x85, 0x52, 0x2E])
        guard case .tuple(let sizeIndex) = size else { return XCTFail() }
        XCTAssertEqual(sizeHeap.tuples[sizeIndex], [.int(2), .int(3)])

        let (set, setHeap) = try load([0x80, 0x02] + Self.global("__builtin__", "frozenset") + [0x5D, 0x4B, 0x01, 0x61, 0x85, 0x52, 0x2E])
        guard case .set(let setIndex) = set else { return XCTFail() }
        XCTAssertEqual(setHeap.sets[setIndex], [.int(1)])

        XCTAssertEqual(try value(Self.global("torch", "float32")), .global(.dtype(TorchScalarType(.float32))))
        XCTAssertTrue(failure([0x80, 0x02] + Self.global("torch", "FloatStorage") + [0x29, 0x52, 0x2E]).contains("torch.FloatStorage cannot be called"))
    }

    /// The globals torch's weights-only allowlist adds for checkpoints, as torch.save (protocol 2) writes them.
    func test_P6_checkpointGlobalsMatchTorchsAllowlist() throws {
        // collections.Counter({2: 1, 4: 1}): REDUCE on a dict.
        let (counter, counterHeap) = try load([0x80, 0x02] + Self.global("collections", "Counter") + [0x7D, 0x28, 0x4B, 0x02, 0x4B, 0x01,
                                                                                                    0x4B, 0x04, 0x4B, 0x01, 0x75, 0x85, 0x52, 0x2E])
        guard case .dict(let counterIndex) = counter else { return XCTFail("\(counter)") }
        XCTAssertTrue(counterHeap.dicts[counterIndex].isCounter)
        XCTAssertEqual(counterHeap.dicts[counterIndex].keys, [.int(2), .int(4)])
        XCTAssertEqual(PickleDescriber(heap: counterHeap).summary(of: counter), "Counter of 2 entries ('2', '4')")
        XCTAssertTrue(failure([0x80, 0x02] + Self.global("collections", "Counter") + [0x5D, 0x85, 0x52, 0x2E]).contains("only read from a dict of counts"))

        // torch.device('cuda', 0), torch.device('cpu').
        let (device, deviceHeap) = try load([0x80, 0x02] + Self.global("torch", "device") + Self.unicode("cuda") + [0x4B, 0x00, 0x86, 0x52, 0x2E])
        guard case .object(let deviceIndex) = device else { return XCTFail("\(device)") }
        XCTAssertEqual(deviceHeap.objects[deviceIndex], PickleObject(typeName: "torch.device", text: "cuda:0"))
        XCTAssertEqual(PickleDescriber(heap: deviceHeap).summary(of: device), "torch.device cuda:0")
        XCTAssertTrue(failure([0x80, 0x02] + Self.global("torch", "device") + Self.unicode("cuda") + [0x4E, 0x4E, 0x87, 0x52, 0x2E])
            .contains("device(type[, index])"))

        // bytearray(_codecs.encode('ab\u{FF}', 'latin1')) under protocol 2's module name.
        let encoded = Self.global("_codecs", "encode") + Self.unicode("ab\u{00FF}") + Self.unicode("latin1") + [0x86, 0x52]
        XCTAssertEqual(try value(Self.global("__builtin__", "bytearray") + encoded + [0x85, 0x52]), .bytes([0x61, 0x62, 0xFF]))
        XCTAssertEqual(try value(Self.global("builtins", "bytearray") + [0x29, 0x52]), .bytes([]))
        XCTAssertTrue(failure([0x80, 0x02] + Self.global("builtins", "bytearray") + [0x4B, 0x03, 0x85, 0x52, 0x2E]).contains("only read from bytes"))

        // complex(1.5, -2.0): kept as text.
        let (complex, complexHeap) = try load([0x80, 0x02] + Self.global("__builtin__", "complex") + [0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0,
                                                                                                    0x47, 0xC0, 0x00, 0, 0, 0, 0, 0, 0, 0x86, 0x52, 0x2E])
        guard case .object(let complexIndex) = complex else { return XCTFail("\(complex)") }
        XCTAssertEqual(complexHeap.objects[complexIndex], PickleObject(typeName: "complex", text: "(1.5-2.0j)"))
        XCTAssertTrue(failure([0x80, 0x02] + Self.global("builtins", "complex") + Self.unicode("1+2j") + [0x85, 0x52, 0x2E]).contains("only read from numbers"))

        // torch.nn.parameter.Parameter(tensor, True) is the tensor; Parameter of anything else is refused.
        XCTAssertTrue(failure([0x80, 0x02] + Self.global("torch.nn.parameter", "Parameter") + [0x4B, 0x01, 0x85, 0x52, 0x2E])
            .contains("Parameter(tensor[, requires_grad])"))

        // Names torch also allows but ModelKit does not read stay refused, naming the global.
        for (module, name) in [("torch", "Tensor"), ("torch._tensor", "_rebuild_from_type_v2"), ("torch._utils", "_rebuild_sparse_tensor"),
                               ("collections", "defaultdict"), ("builtins", "getattr")] {
            XCTAssertTrue(failure([0x80, 0x02] + Self.global(module, name) + [0x2E]).contains("refusing global '\(module).\(name)'"), name)
        }
    }

    /// NEWOBJ (`cls.__new__(cls, *args)`) for the allowlisted classes, EMPTY_SET and SHORT_BINSTRING, which torch's
    /// weights-only unpickler reads.
    func test_P4_newobjEmptySetAndShortBinstring() throws {
        // NEWOBJ OrderedDict, then SETITEMS fills it.
        let (ordered, heap) = try load([0x80, 0x02] + Self.global("collections", "OrderedDict") + [0x29, 0x81, 0x28, 0x55, 0x01, 0x61, 0x4B, 0x07, 0x75, 0x2E])
        guard case .dict(let index) = ordered else { return XCTFail("\(ordered)") }
        XCTAssertTrue(heap.dicts[index].isOrdered)
        XCTAssertEqual(heap.dicts[index].keys, [.string("a")])
        // NEWOBJ of the set and container classes ignores the arguments, as __new__ does.
        XCTAssertEqual(try load([0x80, 0x02] + Self.global("builtins", "set") + [0x5D, 0x4B, 0x01, 0x61, 0x85, 0x81, 0x2E]).heap.sets, [[]])
        XCTAssertEqual(try value(Self.global("torch", "Size") + [0x4B, 0x02, 0x4B, 0x03, 0x86, 0x85, 0x81]).kindName, "tuple")
        // NEWOBJ of something that is not a class, or of a global outside the allowlist.
        XCTAssertTrue(failure([0x80, 0x02] + Self.global("torch._utils", "_rebuild_tensor_v2") + [0x29, 0x81, 0x2E])
            .contains("NEWOBJ of torch._utils._rebuild_tensor_v2, which is not a class"))
        XCTAssertTrue(failure([0x80, 0x02, 0x4B, 0x01, 0x29, 0x81, 0x2E]).contains("NEWOBJ of an integer, not an allowed class"))
        XCTAssertTrue(failure([0x80, 0x02] + Self.global("os", "system") + [0x29, 0x81, 0x2E]).contains("refusing global 'os.system'"))
        // EMPTY_SET.
        let (set, setHeap) = try load([0x80, 0x02, 0x8F, 0x2E])
        guard case .set(let setIndex) = set else { return XCTFail("\(set)") }
        XCTAssertEqual(setHeap.sets[setIndex], [])
        // SHORT_BINSTRING is text, decoded as torch.load decodes it (UTF-8).
        XCTAssertEqual(try value([0x55, 0x03] + Array("hé".utf8)), .string("hé"))
        XCTAssertTrue(failure([0x80, 0x02, 0x55, 0x01, 0xFF, 0x2E]).contains("not valid UTF-8"))
        XCTAssertTrue(failure([0x80, 0x02, 0x55, 0x09, 0x61, 0x2E]).contains("truncated"))
        // ADDITEMS, which would fill a set, is not read (torch does not read it either).
        XCTAssertTrue(failure([0x80, 0x02, 0x8F, 0x28, 0x4B, 0x01, 0x90, 0x2E]).contains("opcode ADDITEMS (0x90)"))
    }

    func test_P4_dictKeysNestMoreThan32TuplesDeepAreRefused() throws {
        // A key of `tuples` nested tuples: EMPTY_TUPLE wrapped by TUPLE1s.
        func keyed(tuples: Int) -> [UInt8] { [0x80, 0x02, 0x7D, 0x29] + [UInt8](repeating: 0x85, count: tuples - 1) + [0x4E, 0x73, 0x2E] }
        XCTAssertNoThrow(try load(keyed(tuples: 32)))
        XCTAssertTrue(failure(keyed(tuples: 33)).contains("a dict key nested more than 32 tuples deep"))
    }

    func test_P6_storageReferencesAndRebuiltTensors() throws {
        func reference(key: String = "7", count: UInt8 = 6) -> [UInt8] {
            [0x28] + Self.unicode("storage") + Self.global("torch", "HalfStorage") + Self.unicode(key)
                + Self.unicode("cuda:0") + [0x4B, count, 0x74, 0x51]
        }
        let storage = reference()
        let rebuild = Self.global("torch._utils", "_rebuild_tensor_v2") + [0x28] + storage
            + [0x4B, 0x01, 0x4B, 0x02, 0x4B, 0x02, 0x86, 0x4B, 0x01, 0x4B, 0x02, 0x86, 0x89, 0x7D, 0x74, 0x52]
        let (root, heap) = try load([0x80, 0x02] + rebuild + [0x2E])
        guard case .tensor(let index) = root else { return XCTFail("\(root)") }
        XCTAssertEqual(heap.tensors[index], TorchTensorReference(storage: 0, storageOffset: 1, size: [2, 2], stride: [1, 2], dtype: nil))
        XCTAssertEqual(heap.storages[0], TorchStorageReference(type: .typed(TorchScalarType(.float16)), key: "7", location: "cuda:0", count: 6))

        // Two references to one key are one storage; a conflicting second reference is refused.
        let twice = try load([0x80, 0x02] + storage + storage + [0x86, 0x2E])
        XCTAssertEqual(twice.heap.storages.count, 1)
        XCTAssertTrue(failure([0x80, 0x02] + storage + reference(count: 7) + [0x86, 0x2E]).contains("referenced twice"))
        // Outside an archive there are no storages.
        XCTAssertTrue(failure([0x80, 0x02] + storage + [0x2E], storages: false).contains("outside a torch.save archive"))
        // A key that could leave data/.
        XCTAssertTrue(failure([0x80, 0x02] + reference(key: "../x") + [0x2E]).contains("without '/'"))
        XCTAssertTrue(failure([0x80, 0x02] + reference(key: "") + [0x2E]).contains("without '/'"))
    }

    func test_P4_malformedPicklesAreRefusedWithTheOffset() {
        XCTAssertTrue(failure([0x80, 0x02, 0x30, 0x2E]).contains("opcode POP (0x30) at offset 2"))
        XCTAssertTrue(failure([0x80, 0x06, 0x2E]).contains("protocol 6"))
        XCTAssertTrue(failure([0x80, 0x02, 0x61, 0x2E]).contains("stack underflow"))
        XCTAssertTrue(failure([0x80, 0x02, 0x5D, 0x28, 0x61, 0x2E]).contains("stack underflow"), "APPEND cannot reach below a MARK")
        XCTAssertTrue(failure([0x80, 0x02, 0x4B, 0x01, 0x4B, 0x02, 0x2E]).contains("2 values on the stack"))
        XCTAssertTrue(failure([0x80, 0x02, 0x68, 0x03, 0x2E]).contains("memo entry 3 is read before it is written"))
        XCTAssertTrue(failure([0x80, 0x02, 0x4B, 0x01, 0x29, 0x52, 0x2E]).contains("not an allowed global"))
        XCTAssertTrue(failure([0x80, 0x02, 0x5D, 0x5D, 0x4B, 0x01, 0x73, 0x2E]).contains("SETITEM on a list"))
        XCTAssertTrue(failure([0x80, 0x02, 0x7D, 0x5D, 0x4B, 0x01, 0x73, 0x2E]).contains("unhashable"))
        XCTAssertTrue(failure([0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E]).contains("claims 4294967295 bytes but only 1 remain"))
        XCTAssertTrue(failure([0x80, 0x02, 0x8C, 0x01, 0xFF, 0x2E]).contains("not valid UTF-8"))
        XCTAssertTrue(failure([0x80, 0x02, 0x4B, 0x01]).contains("without a STOP"))
        XCTAssertTrue(failure([0x80, 0x02, 0x63] + Array("os".utf8)).contains("no end"))
        XCTAssertTrue(failure([0x80, 0x02, 0x63] + [UInt8](repeating: 0x61, count: 5_000) + [0x0A]).contains("characters in a GLOBAL module"))
        XCTAssertTrue(failure([0x80, 0x04, 0x95, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x2E]).contains("FRAME of 255 bytes"))
        XCTAssertTrue(failure([0x80, 0x02] + Self.global("_codecs", "encode") + Self.unicode("\u{0100}") + Self.unicode("latin1") + [0x86, 0x52, 0x2E])
            .contains("not a latin-1 character"))
    }

    func test_P5_hostileGlobalNamesAreShownOnOneLine() {
        let text = failure([0x80, 0x02] + Self.global("os\r", "sys\u{1B}tem") + [0x2E])
        XCTAssertTrue(text.contains("refusing global 'os\\r.sys\\u{1b}tem'"), text)
        XCTAssertTrue(failure([0x80, 0x04, 0x8C, 0x02] + Array("os".utf8) + [0x8C, 0x06] + Array("system".utf8) + [0x93, 0x2E])
            .contains("refusing global 'os.system'"))
        XCTAssertTrue(failure([0x80, 0x04, 0x4B, 0x01, 0x4B, 0x02, 0x93, 0x2E]).contains("STACK_GLOBAL needs two strings"))
    }

    func test_P7_limits() {
        var small = RestrictedUnpickler.Limits()
        small.maximumStackDepth = 10
        XCTAssertTrue(failure([0x80, 0x02, 0x28] + [UInt8](repeating: 0x4E, count: 11) + [0x74, 0x2E], limits: small)
            .contains("limit of 10 values on the stack"))
        small = .init()
        small.maximumMemoEntries = 2
        XCTAssertTrue(failure([0x80, 0x02, 0x4E, 0x71, 0x00, 0x71, 0x01, 0x71, 0x01, 0x71, 0x02, 0x2E], limits: small)
            .contains("limit of 2 memo entries"))
        small = .init()
        small.maximumObjects = 100
        // A loop of BINGETs of one value: the stack stays small, the work is what is capped.
        let churn: [UInt8] = [0x80, 0x02, 0x4E, 0x71, 0x00] + Array([[UInt8]](repeating: [0x68, 0x00, 0x85], count: 200).joined()) + [0x2E]
        XCTAssertTrue(failure(churn, limits: small).contains("limit of 100 objects"))
        XCTAssertTrue(failure([0x80, 0x02] + [UInt8](repeating: 0x28, count: 1_001) + [0x2E]).contains("limit of 1000 nested MARKs"))
    }

    /// Tuples nested a million deep without any MARK build fine and are released without recursion.
    func test_P7_deepNestingWithoutMarksIsFlat() throws {
        let bytes: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E]
        let (root, heap) = try load(bytes)
        XCTAssertEqual(heap.tuples.count, 1_000_001)
        XCTAssertEqual(PickleDescriber(heap: heap).summary(of: root), "tuple of 1 item")
    }
}
