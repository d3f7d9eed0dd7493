// swift-tools-version:6.0
// ModelKit: modules are split by what they depend on (see README "Layout").
import PackageDescription

let package = Package(
    name: "ModelKit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "ModelKit", targets: ["ModelKit"]),
        .executable(name: "modelkit", targets: ["modelkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        // Runtime only: the ONNX schema subset is generated once with protoc and committed (see Sources/ModelKitInterop/ONNX).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.30.0"),
    ],
    targets: [
        // zlib (CRC-32 now, deflate for checkpoints). Not named CZlib: ZIPFoundation ships a module of that name.
        .systemLibrary(name: "CModelKitZlib", path: "Sources/CModelKitZlib"),
        // libhdf5 (serial build) for Keras .keras/.h5 weights.
        .systemLibrary(name: "CModelKitHDF5", path: "Sources/CModelKitHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"]), .brew(["hdf5"])]),
        // Tensors, shapes, dtypes, layers, models, JSON values, shape validation. No Foundation, no file I/O.
        .target(name: "ModelKitCore"),
        // The .mkit container and its JSON form, checksums, memory-mapped reads, atomic writes.
        .target(name: "ModelKitFormat", dependencies: ["ModelKitCore", "CModelKitZlib"]),
        // The packed-weight matrix product: AVX-512/AVX2 variants chosen at run time by function-level target
        // attributes (no unsafe flags), with a portable C fallback.
        .target(name: "CModelKitKernels"),
        // Forward kernels (BLAS loaded at run time), activations, prepared models.
        .target(name: "ModelKitEngine", dependencies: ["ModelKitCore", "CModelKitKernels"]),
        // Backpropagation, losses, optimizers, schedules, gradient checking: the fine-tune engine.
        .target(name: "ModelKitTraining", dependencies: ["ModelKitCore", "ModelKitEngine"]),
        // Foreign formats, one folder each (NumPy/, ONNX/, Safetensors/, ...), and the inputs `run` reads (CSV, JSON).
        .target(name: "ModelKitInterop", dependencies: [
            "ModelKitCore", "ModelKitFormat", "CModelKitZlib", "CModelKitHDF5",
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], exclude: ["ONNX/onnx-subset.proto"]),
        // Umbrella: re-exports the modules above and adds load-any-file conveniences.
        .target(name: "ModelKit", dependencies: ["ModelKitCore", "ModelKitFormat", "ModelKitEngine", "ModelKitTraining", "ModelKitInterop"]),
        // The subcommands and their output; the only code that prints.
        .target(name: "ModelKitCLI", dependencies: [
            "ModelKit", "ModelKitCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "modelkit", dependencies: ["ModelKitCLI"]),
        // `make bench`: times library calls (no process start) next to the Python peers.
        .executableTarget(name: "modelkit-bench", dependencies: ["ModelKit"], path: "Benchmarks/Sources/modelkit-bench"),
        // Shared test helpers: tolerances, fixture paths, malformed-file builders.
        .target(name: "ModelKitTestSupport", dependencies: ["ModelKit"], path: "Tests/ModelKitTestSupport"),
        .testTarget(name: "ModelKitCoreTests", dependencies: ["ModelKitCore", "ModelKitTestSupport"]),
        .testTarget(name: "ModelKitFormatTests", dependencies: ["ModelKitFormat", "ModelKitTestSupport"]),
        .testTarget(name: "ModelKitEngineTests", dependencies: ["ModelKitEngine", "ModelKit", "ModelKitTestSupport"]),
        .testTarget(name: "ModelKitTrainingTests", dependencies: ["ModelKitTraining", "ModelKit", "ModelKitTestSupport"]),
        .testTarget(name: "ModelKitInteropTests", dependencies: ["ModelKitInterop", "ModelKitTestSupport"]),
        .testTarget(name: "ModelKitCLITests", dependencies: ["ModelKitCLI", "ModelKitTestSupport"], exclude: ["Snapshots"]),
    ]
)
