import ModelKitCore

/// The configuration as JSON, in the keys `modelkit finetune` and the parity fixtures use (`config.json`): `loss`,
/// `optimizer`, `lr`, `momentum`, `dampening`, `nesterov`, `weight_decay`, `betas`, `eps`, `epochs`, `batch_size`,
/// `shuffle`, `seed`, `freeze`, `train_last`, `schedule`, `clip_grad_norm`, `l2`, `dropout`.
extension TrainingConfiguration {
    /// Reads the JSON form. Missing optional keys take PyTorch's defaults; unknown keys are ignored.
    ///
    /// - Throws: ``TrainingError/invalidConfiguration(name:reason:)`` naming the key that is missing or malformed.
    public init(json: JSONValue) throws(TrainingError) {
        func string(_ key: String) throws(TrainingError) -> String {
            guard let value = json[key]?.stringValue else { throw .invalidConfiguration(name: key, reason: "must be a string") }
            return value
        }
        func number(_ key: String, _ fallback: Double) throws(TrainingError) -> Double {
            guard let value = json[key], !value.isNull else { return fallback }
            guard let number = value.doubleValue else { throw .invalidConfiguration(name: key, reason: "must be a number") }
            return number
        }
        func integer(_ object: JSONValue?, _ key: String, _ fallback: Int) throws(TrainingError) -> Int {
            guard let value = object?[key], !value.isNull else { return fallback }
            guard let number = value.intValue else { throw .invalidConfiguration(name: key, reason: "must be an integer") }
            return number
        }
        func flag(_ key: String, _ fallback: Bool) throws(TrainingError) -> Bool {
            guard let value = json[key], !value.isNull else { return fallback }
            guard let bool = value.boolValue else { throw .invalidConfiguration(name: key, reason: "must be true or false") }
            return bool
        }
        guard let loss = LossFunction(rawValue: try string("loss")) else {
            throw .invalidConfiguration(name: "loss", reason: "must be one of \(LossFunction.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let kind = OptimizerKind(rawValue: try string("optimizer")) else {
            throw .invalidConfiguration(name: "optimizer", reason: "must be one of sgd, adam, adamw")
        }
        var betas = (0.9, 0.999)
        if let array = json["betas"]?.arrayValue {
            guard array.count == 2, let b1 = array[0].doubleValue, let b2 = array[1].doubleValue else {
                throw .invalidConfiguration(name: "betas", reason: "must be two numbers [beta1, beta2]")
            }
            betas = (b1, b2)
        }
        let defaultDecay = kind == .adamw ? 0.01 : 0
        let defaultRate = kind == .sgd ? Double.nan : 1e-3
        let rate = try number("lr", defaultRate)
        guard !rate.isNaN else { throw .invalidConfiguration(name: "lr", reason: "SGD needs a learning rate") }
        let optimizer = OptimizerConfiguration(kind: kind, learningRate: rate, momentum: try number("momentum", 0),
                                               dampening: try number("dampening", 0), nesterov: try flag("nesterov", false),
                                               weightDecay: try number("weight_decay", defaultDecay), beta1: betas.0,
                                               beta2: betas.1, epsilon: try number("eps", 1e-8))
        var freeze: [String] = []
        if let array = json["freeze"]?.arrayValue {
            for item in array {
                guard let name = item.stringValue else { throw .invalidConfiguration(name: "freeze", reason: "must list layer names") }
                freeze.append(name)
            }
        }
        let clip = json["clip_grad_norm"].flatMap { $0.isNull ? nil : $0 }
        if let clip, clip.doubleValue == nil { throw .invalidConfiguration(name: "clip_grad_norm", reason: "must be a number or null") }
        let seedText = json["seed"].flatMap { $0.stringValue ?? ($0.intValue.map(String.init)) }
        let trainLast = json["train_last"].flatMap { $0.isNull ? nil : $0.intValue }
        self.init(loss: loss, optimizer: optimizer, schedule: try Self.schedule(json["schedule"]),
                  clipGradientNorm: clip?.doubleValue, l2: try number("l2", 0), frozenLayers: freeze,
                  trainLastDenseLayers: trainLast, batchSize: try integer(json, "batch_size", 32),
                  shuffle: try flag("shuffle", false), seed: seedText.flatMap { UInt64($0) } ?? 0,
                  dropoutEnabled: try flag("dropout", true), epochs: try integer(json, "epochs", 1))
    }

    private static func schedule(_ json: JSONValue?) throws(TrainingError) -> LearningRateSchedule {
        guard let json, !json.isNull else { return .constant }
        func value(_ key: String) throws(TrainingError) -> Double {
            guard let number = json[key]?.doubleValue else { throw .invalidConfiguration(name: "schedule.\(key)", reason: "must be a number") }
            return number
        }
        func count(_ key: String) throws(TrainingError) -> Int {
            guard let number = json[key]?.intValue else { throw .invalidConfiguration(name: "schedule.\(key)", reason: "must be an integer") }
            return number
        }
        if let per = json["per"]?.stringValue, per != "step" {
            throw .invalidConfiguration(name: "schedule.per", reason: "'\(per)' is not supported; schedules step once per optimizer step (\"step\")")
        }
        switch json["kind"]?.stringValue {
        case "constant": return .constant
        case "step": return .step(stepSize: try count("step_size"), gamma: try value("gamma"))
        case "cosine": return .cosine(tMax: try count("t_max"), etaMin: try value("eta_min"))
        case "warmup-linear":
            return .warmupLinear(startFactor: try value("start_factor"), endFactor: try value("end_factor"),
                                 warmupSteps: try count("warmup_steps"))
        default:
            throw .invalidConfiguration(name: "schedule.kind", reason: "must be constant, step, cosine or warmup-linear")
        }
    }

    /// The JSON form (every key written).
    public var jsonValue: JSONValue {
        let scheduleValue: JSONValue
        switch schedule {
        case .constant:
            scheduleValue = .object(JSONObject([("kind", .string("constant")), ("per", .string("step"))]))
        case .step(let size, let gamma):
            scheduleValue = .object(JSONObject([("kind", .string("step")), ("step_size", .integer(size)), ("gamma", .double(gamma)), ("per", .string("step"))]))
        case .cosine(let tMax, let etaMin):
            scheduleValue = .object(JSONObject([("kind", .string("cosine")), ("t_max", .integer(tMax)), ("eta_min", .double(etaMin)), ("per", .string("step"))]))
        case .warmupLinear(let start, let end, let steps):
            scheduleValue = .object(JSONObject([("kind", .string("warmup-linear")), ("start_factor", .double(start)),
                                                ("end_factor", .double(end)), ("warmup_steps", .integer(steps)), ("per", .string("step"))]))
        }
        return .object(JSONObject([
            ("loss", .string(loss.rawValue)), ("optimizer", .string(optimizer.kind.rawValue)),
            ("lr", .double(optimizer.learningRate)), ("momentum", .double(optimizer.momentum)),
            ("dampening", .double(optimizer.dampening)), ("nesterov", .bool(optimizer.nesterov)),
            ("weight_decay", .double(optimizer.weightDecay)),
            ("betas", .array([.double(optimizer.beta1), .double(optimizer.beta2)])), ("eps", .double(optimizer.epsilon)),
            ("epochs", .integer(epochs)), ("batch_size", .integer(batchSize)), ("shuffle", .bool(shuffle)),
            ("seed", .string(String(seed))), ("freeze", .array(frozenLayers.map { .string($0) })),
            ("train_last", trainLastDenseLayers.map { .integer($0) } ?? .null), ("schedule", scheduleValue),
            ("clip_grad_norm", clipGradientNorm.map { .double($0) } ?? .null), ("l2", .double(l2)),
            ("dropout", .bool(dropoutEnabled)),
        ]))
    }
}
