// swift-tools-version:6.0
// libFuzzer targets for every ModelKit reader (issue 8). A separate package so that the main build and CI never see
// sanitizer flags. Build and run with `scripts/fuzz.sh` (or `make fuzz`); see Fuzz/README.md.
//
// libFuzzer's `main` is not used (SwiftPM links its own): each target's main.swift starts `LLVMFuzzerRunDriver`.
// The targets use `@testable import` to reach the readers' internal byte-level entry points, so the build needs
// `-enable-testing` next to the sanitizer flags (scripts/fuzz.sh passes them).
import PackageDescription

/// One executable per reader: `fuzz-<name>` built from `Sources/fuzz-<name>/`.
let readers = [
    "mkit", "mkit-json", "onnx", "safetensors", "safetensors-index", "npy", "npz", "pt", "pickle", "gguf", "arch",
    "csv", "json-input", "keras-config", "keras",
]

let package = Package(
    name: "ModelKitFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "ModelKit", path: ".."),
    ],
    targets: [
        // Copies the fuzzer's bytes into storage the readers accept and touches every byte a result views, so that
        // AddressSanitizer sees any view outside the input.
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer", .product(name: "ModelKit", package: "ModelKit")]),
        // The declaration of libFuzzer's driver entry point.
        .target(name: "CLibFuzzer"),
    ] + readers.map { reader in
        .executableTarget(name: "fuzz-\(reader)", dependencies: [
            "FuzzSupport", .product(name: "ModelKit", package: "ModelKit"),
        ])
    }
)
