// modelkit-bench: ModelKit's side of `make bench` (Benchmarks/run.sh). Times library calls in-process (no process
// start in the timing) on the data `peers.py prepare` wrote, checks every output against the shared reference
// first, and prints one JSON object per line for Benchmarks/report.py.
//
// Usage: modelkit-bench DATA_DIR [--case NAME]... [--budget SECONDS] [--repetitions N] [--best-limit SECONDS]
//        (NAME: an inference case, sgemm-2048, a training case train-…, or the checkpoint case checkpoint-wide;
//        none given: every case in the manifest)
//        modelkit-bench --files DIR [--repetitions N] [--budget SECONDS]
import Foundation
import ModelKit

var directory: String?
var fileDirectory: String?
var selected: Set<String> = []
var budget = 1.0
var repetitions = 3
var bestLimit = 60.0
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--case": if let name = arguments.popFirst() { selected.insert(name) }
    case "--budget": budget = arguments.popFirst().flatMap(Double.init) ?? budget
    case "--repetitions": repetitions = arguments.popFirst().flatMap(Int.init) ?? repetitions
    case "--files": fileDirectory = arguments.popFirst()
    case "--best-limit": bestLimit = arguments.popFirst().flatMap(Double.init) ?? bestLimit
    case "--help", "-h":
        print("usage: modelkit-bench DATA_DIR [--case NAME]... [--budget SECONDS] [--repetitions N] [--best-limit SECONDS]\n       modelkit-bench --files DIR [--repetitions N] [--budget SECONDS]")
        exit(0)
    default:
        guard directory == nil, !argument.hasPrefix("-") else { Output.fail("unknown argument \(argument)") }
        directory = argument
    }
}

Output.emit(["kind": "environment", "engine": "modelkit", "version": ModelKitVersion.string,
             "blas": InferenceSession.blas.description])
do {
    var allAgree = true
    if let fileDirectory {
        allAgree = try runFileCases(directory: fileDirectory, repetitions: repetitions, budget: budget)
    } else {
        guard let directory else { Output.fail("give the data directory peers.py prepare wrote (see --help)") }
        let data = try BenchData(directory: directory)
        for benchCase in data.cases where selected.isEmpty || selected.contains(benchCase.name) {
            allAgree = try runNetworkCase(benchCase, data: data, budget: budget) && allAgree
        }
        if selected.isEmpty || selected.contains(data.sgemmName) {
            allAgree = try runMatrixProduct(data: data, budget: budget) && allAgree
        }
        for trainCase in data.trainCases where selected.isEmpty || selected.contains(trainCase.name) {
            allAgree = try runTrainCase(trainCase, data: data, budget: budget) && allAgree
        }
        if let checkpointCase = data.checkpointCase, selected.isEmpty || selected.contains(checkpointCase.name) {
            allAgree = try runCheckpointCase(data: data, repetitions: repetitions, bestLimit: bestLimit) && allAgree
        }
    }
    exit(allAgree ? 0 : 1)
} catch {
    Output.fail("\(error)")
}
