import Foundation

/// Monotonic nanoseconds.
func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Warms `body` up (3 calls and at least a tenth of `budget`), then times single calls until `budget` seconds have
/// passed and at least 5 samples exist: the same rule as `peers.py`'s `measure`. Sorted seconds.
func measure(budget: Double, _ body: () throws -> Void) rethrows -> [Double] {
    let warmUntil = now() + UInt64(budget * 1e8)
    var calls = 0
    while calls < 3 || now() < warmUntil {
        try body()
        calls += 1
    }
    var times: [Double] = []
    times.reserveCapacity(4096)
    let deadline = now() + UInt64(budget * 1e9)
    while times.count < 5 || (now() < deadline && times.count < 200_000) {
        let start = now()
        try body()
        times.append(Double(now() - start) / 1e9)
    }
    return times.sorted()
}

/// Times `body` exactly `repetitions` times (for the slow file rows). Sorted seconds.
func measureRepeated(_ repetitions: Int, _ body: () throws -> Void) rethrows -> [Double] {
    var times: [Double] = []
    for _ in 0..<max(1, repetitions) {
        let start = now()
        try body()
        times.append(Double(now() - start) / 1e9)
    }
    return times.sorted()
}

/// One JSON object per line on stdout, the format `Benchmarks/report.py` reads.
enum Output {
    static func emit(_ record: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]),
              let line = String(data: data, encoding: .utf8) else { return }
        print(line)
        fflush(nil)
    }

    static func timing(case name: String, _ times: [Double], extra: [String: Any] = [:]) {
        var record: [String: Any] = [
            "kind": "timing", "engine": "modelkit", "case": name, "median_s": times[times.count / 2],
            "p10_s": times[times.count / 10], "p90_s": times[times.count * 9 / 10], "samples": times.count,
        ]
        record.merge(extra) { _, new in new }
        emit(record)
    }

    static func check(case name: String, ok: Bool, maximumError: Double, shape: [Int]) {
        emit(["kind": "check", "engine": "modelkit", "case": name, "ok": ok,
              "max_error": maximumError.isFinite ? maximumError : 1e30, "shape": shape])
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("modelkit-bench: \(message)\n".utf8))
        exit(1)
    }
}

/// The largest `|actual − expected| / max(1, |expected|)`, the benchmark's agreement measure (`peers.py` `check`).
func maximumError(_ actual: UnsafeBufferPointer<Float>, _ expected: [Double]) -> Double {
    guard actual.count == expected.count else { return .infinity }
    var worst = 0.0
    for index in 0..<actual.count {
        let value = Double(actual[index])
        guard value.isFinite else { return .infinity }
        worst = max(worst, abs(value - expected[index]) / max(1, abs(expected[index])))
    }
    return worst
}
