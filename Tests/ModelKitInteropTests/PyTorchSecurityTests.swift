import Foundation
import ModelKitCore
import ModelKitFormat
@testable import ModelKitInterop
import ModelKitTestSupport
import XCTest

/// Hostile and damaged files: every one is refused with a one-line error that says what and where, and nothing in
/// any of them is ever executed.
final class PyTorchSecurityTests: XCTestCase {
    /// Each hostile fixture and the global it must be refused for. Each payload would run
    /// `touch /tmp/modelkit-pwned-<name>` if an unpickler executed it.
    static let hostile: [(file: String, global: String)] = [
        ("evil_os_system.pt", "os.system"),
        ("evil_posix_system.pt", "posix.system"),
        ("evil_builtins_eval.pt", "builtins.eval"),
        ("evil_builtin_eval.pt", "__builtin__.eval"),
        ("evil_subprocess_popen.pt", "subprocess.Popen"),
        ("evil_builtin_getattr.pt", "__builtin__.getattr"),
        ("evil_torch_load.pt", "torch.load"),
        ("evil_rebuild_lookalike.pt", "torch._utils._rebuild_tensor_v2x"),
        ("evil_stack_global.pt", "os.system"),
        ("evil_inside_state_dict.pt", "posix.system"),   // written by torch.save itself, after two real tensors
        ("evil_raw_os_system.pkl", "os.system"),         // raw pickles, as a legacy-format reader would see them
        ("evil_raw_eval.pt", "builtins.eval"),
    ]

    func test_P5_everyHostilePickleIsRefusedNamingTheGlobalAndNothingRuns() throws {
        try TorchFixture.removePwnedMarkers()
        for (file, global) in Self.hostile {
            let path = try TorchFixture.malformed(file)
            let expected = "refusing global '\(global)' (pickle offset"
            for (operation, body) in [("readStateDict", { _ = try PyTorchFormat.readStateDict(path: path) }),
                                      ("listKeys", { _ = try PyTorchFormat.listKeys(path: path) }),
                                      ("read", { _ = try PyTorchFormat.read(path: path) })] as [(String, () throws -> Void)] {
                let error = TorchFixture.error(body)
                guard case .refusedGlobal(_, _, let named)? = error else {
                    XCTFail("\(file) \(operation): expected a refused global, got \(String(describing: error))")
                    continue
                }
                XCTAssertEqual(named, global, file)
                let text = error?.description ?? ""
                XCTAssertTrue(text.contains(expected), text)
                XCTAssertTrue(text.hasSuffix("only tensors and containers can be loaded; loading never runs code from the file"), text)
            }
        }
        XCTAssertEqual(try TorchFixture.pwnedMarkers(), [], "a payload ran")
    }

    func test_P5_refusalHappensAtTheGlobalBeforeItsArgumentsAreBuilt() throws {
        let path = try TorchFixture.malformed("evil_os_system.pt")
        guard case .refusedGlobal(let source, let offset, _)? = TorchFixture.error({ _ = try PyTorchFormat.readStateDict(path: path) }) else {
            return XCTFail("not refused")
        }
        XCTAssertEqual(source, "\(path)[archive/data.pkl]")
        XCTAssertEqual(offset, 2, "the GLOBAL right after PROTO")
    }

    func test_P1_torchScriptFilesSayHowToResave() throws {
        let script = try TorchFixture.model("torchscript.pt")
        let scriptError = TorchFixture.error { _ = try PyTorchFormat.listKeys(path: script) }
        guard case .torchScript? = scriptError else { return XCTFail("\(String(describing: scriptError))") }
        XCTAssertTrue(scriptError?.description.contains("not supported") == true)
        XCTAssertTrue(scriptError?.description.contains("torch.save(model.state_dict(), path)") == true)
    }

    func test_P2_hostileZipMemberNamesAreRefused() throws {
        for (file, fragment) in [("zip_dotdot.pt", "'..' component"), ("zip_absolute.pt", "absolute path"),
                                 ("zip_backslash.pt", "backslash")] {
            let error = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: try TorchFixture.malformed(file)) }
            guard case .archive(.unsafeMemberName)? = error else { XCTFail("\(file): \(String(describing: error))"); continue }
            XCTAssertTrue(error?.description.contains(fragment) == true, error?.description ?? "")
        }
    }

    /// The class of each problem, which the CLI turns into an exit code.
    func test_P1_errorKinds() throws {
        let cases: [(String, ModelFileError.Kind)] = [
            ("malformed/torch/evil_os_system.pt", .unsupported),
            ("models/torch/torchscript.pt", .unsupported), ("malformed/torch/zip_dotdot.pt", .corrupt),
            ("malformed/torch/missing_storage.pt", .corrupt), ("malformed/torch/truncated_tail.pt", .corrupt),
            ("malformed/torch/no_data_pkl.pt", .notThisFormat), ("models/numpy/stored.npz", .notThisFormat),
            ("models/example/example.json", .notThisFormat),
        ]
        for (fixture, kind) in cases {
            let path = try FixturePaths.require(fixture)
            XCTAssertEqual(TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: path) }?.kind, kind, fixture)
        }
        XCTAssertEqual(TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: "/nonexistent.pt") }?.kind, .io)
    }

    func test_P1_notPyTorchFilesSayWhatTheyAre() throws {
        let npz = try FixturePaths.require("models/numpy/stored.npz")
        let error = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: npz) }
        guard case .notATorchArchive? = error else { return XCTFail("\(String(describing: error))") }
        let mkit = try FixturePaths.require("models/example/example.mkit")
        let other = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: mkit) }
        XCTAssertTrue(other?.description.contains("it looks like ModelKit binary (.mkit)") == true, other?.description ?? "")
        let missing = TorchFixture.error { _ = try PyTorchFormat.readStateDict(path: "/nonexistent/model.pt") }
        guard case .fileAccess? = missing else { return XCTFail("\(String(describing: missing))") }
    }

    func test_P7_everyTruncationOfAValidArchiveGivesACleanError() throws {
        let path = try TorchFixture.model("sequential_f32.pt")
        let bytes = try FixturePaths.bytes(path)
        let archive = try ZipArchive.open(path)
        let boundaries = archive.members.flatMap { [$0.dataOffset, $0.dataOffset + $0.compressedSize] }
        MalformedInput.assertEveryTruncationThrows(bytes, boundaries: boundaries, exhaustiveUpTo: bytes.count) { prefix in
            _ = try PyTorchFormat.loadStateDict(storage: TensorStorage(copying: prefix), path: "truncated.pt", key: nil)
        }
    }

    func test_P7_everyTruncationOfDataPklGivesACleanError() throws {
        let archive = try ZipArchive.open(try TorchFixture.model("checkpoint.pt"))
        let pickle = try XCTUnwrap(archive.member(named: "checkpoint/data.pkl"))
        let bytes = try archive.contents(of: pickle).copyBytes()
        MalformedInput.assertEveryTruncationThrows(bytes, exhaustiveUpTo: bytes.count) { prefix in
            _ = try prefix.withUnsafeBytes { raw in
                try RestrictedUnpickler.load(raw, source: "data.pkl", allowsStorages: true)
            }
        }
    }

    /// Random byte changes in data.pkl (re-zipped with a correct CRC, so the pickle itself is what is damaged):
    /// each read either succeeds or throws; none crashes, hangs or runs anything.
    func test_P7_mutatedPicklesNeverCrash() throws {
        try TorchFixture.removePwnedMarkers()
        let source = try ZipArchive.open(try TorchFixture.model("checkpoint.pt"))
        let members = try source.members.map { member in (member.name, try source.contents(of: member).copyBytes()) }
        let pickleIndex = try XCTUnwrap(members.firstIndex { $0.0.hasSuffix("/data.pkl") })
        let folder = try FixturePaths.scratchDirectory(for: self)
        var generator = SplitMix64(seed: 7)
        var failures = 0
        for round in 0..<300 {
            var pickle = members[pickleIndex].1
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                pickle[Int(generator.next() % UInt64(pickle.count))] = UInt8(truncatingIfNeeded: generator.next())
            }
            var mutated = members
            mutated[pickleIndex].1 = pickle
            let path = folder + "/mutated-\(round).pt"
            try AlignedZipWriter.write(mutated.map { AlignedZipWriter.Member(name: $0.0, body: .bytes($0.1)) }, to: path)
            do {
                _ = try PyTorchFormat.listKeys(path: path)
                _ = try PyTorchFormat.readStateDict(path: path, key: "model")
            } catch {
                failures += 1
                let text = error.description
                XCTAssertFalse(text.contains("\n"), text)
            }
        }
        XCTAssertGreaterThan(failures, 100, "most mutations should be caught")
        XCTAssertEqual(try TorchFixture.pwnedMarkers(), [])
    }
}
