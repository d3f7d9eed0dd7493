// The umbrella module: `import ModelKit` gives the core types, the file formats and the engine.
@_exported import ModelKitCore
@_exported import ModelKitFormat
@_exported import ModelKitEngine
@_exported import ModelKitTraining
@_exported import ModelKitInterop
