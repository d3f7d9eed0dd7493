import Foundation
import ModelKit

/// `finetune --log FILE.jsonl`: one JSON object per line and per optimizer step (and one per epoch with
/// `"event": "epoch"`), appended as training goes, so a killed run keeps what it logged.
final class MetricsLog {
    private let handle: FileHandle
    let path: String

    init(path: String, append: Bool) throws {
        self.path = path
        let manager = FileManager.default
        if !append || !manager.fileExists(atPath: path) {
            guard manager.createFile(atPath: path, contents: nil) else {
                throw ModelFileError(.io, "cannot create the log file", path: path)
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ModelFileError(.io, "cannot open the log file for writing", path: path)
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    /// Writes `fields` as one line.
    func record(_ fields: [(String, JSONValue)]) {
        let line = JSONWriter().string(.object(JSONObject(fields))) + "\n"
        handle.write(Data(line.utf8))
    }

    func close() {
        try? handle.synchronize()
        try? handle.close()
    }
}
