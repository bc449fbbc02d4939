import ProberCore
import ProberTestSupport
import Testing

/// `JSONWriter` writes a document byte for byte as `JSONValue` does, indented and compact.
@Suite struct JSONWriterTests {
    /// A document as the test builds it: what `JSONValue` holds, plus times (a string there, a call of their own here).
    indirect enum Node {
        case scalar(JSONValue)
        case time(Int64)
        case array([Node])
        case object([String: Node])

        var json: JSONValue {
            switch self {
            case .scalar(let v): v
            case .time(let us): .time(us)
            case .array(let items): .array(items.map(\.json))
            case .object(let fields): .object(fields.mapValues(\.json))
            }
        }

        static let literalKeys: [String: StaticString] = ["a": "a", "b_1": "b_1", "B": "B", "é": "é"]

        /// Through the writer's calls, each object's keys in sorted order (as its callers write them).
        func write(into out: inout JSONWriter) {
            switch self {
            case .scalar(.null): out.null()
            case .scalar(.bool(let b)): out.bool(b)
            case .scalar(.int(let i)): out.int(i)
            case .scalar(.double(let d)): out.double(d)
            case .scalar(.string(let s)): out.string(s)
            case .scalar(let v): out.value(v)
            case .time(let us): out.time(us)
            case .array(let items):
                out.beginArray()
                for item in items { item.write(into: &out) }
                out.endArray()
            case .object(let fields):
                out.beginObject()
                for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                    // A literal key (as the documents' writers use) where it needs no escaping.
                    if let literal = Node.literalKeys[key] { out.key(literal) } else { out.key(key) }
                    value.write(into: &out)
                }
                out.endObject()
            }
        }
    }

    /// A random document: nested arrays and objects (empty ones too), strings that need escaping, extreme numbers,
    /// whole `JSONValue`s written at once.
    static func document(_ random: inout SeededRandom, depth: Int = 0) -> Node {
        let strings = ["", "plain", "quote \" and \\ back", "tab\tnew\nline\r", "\u{1}\u{1F}", "é ✓ 漢字", "fra-1"]
        let doubles = [0.0, -0.0, 99.72222222222223, 100, -3, 1e-7, 12345678.9, 123_456_789_012_345, 9_007_199_254_740_991,
                       9_007_199_254_740_992, 1e16, -1e300, .infinity, .nan]
        let ints: [Int64] = [0, 1, -1, 9, 10, 99, 1_000_000, .max, .min, -123_456_789]
        switch Int.random(in: depth < 4 ? 0...10 : 0...6, using: &random) {
        case 0: return .scalar(.null)
        case 1: return .scalar(.bool(Bool.random(using: &random)))
        case 2: return .scalar(.int(ints.randomElement(using: &random)!))
        case 3: return .scalar(.double(doubles.randomElement(using: &random)!))
        case 4: return .scalar(.string(strings.randomElement(using: &random)!))
        case 5: return .time(Int64.random(in: -86_400_000_000...4_102_444_800_000_000, using: &random))
        case 6: return .scalar(.array([.int(1), .object(["k": .string("v"), "e": .array([])])]))
        case 7, 8:
            return .array((0..<Int.random(in: 0...3, using: &random)).map { _ in document(&random, depth: depth + 1) })
        default:
            var fields: [String: Node] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                fields[["a", "b_1", "b1", "B", "é", "key \"q\"", "z"].randomElement(using: &random)!] = document(&random, depth: depth + 1)
            }
            return .object(fields)
        }
    }

    @Test func writesWhatJSONValueWrites() {
        var random = SeededRandom(seed: 14)
        for _ in 0..<2_000 {
            let node = Self.document(&random)
            for pretty in [true, false] {
                var out = JSONWriter(pretty: pretty)
                node.write(into: &out)
                #expect(String(decoding: out.bytes, as: UTF8.self) == (pretty ? node.json.pretty : node.json.encoded))
            }
        }
    }
}
