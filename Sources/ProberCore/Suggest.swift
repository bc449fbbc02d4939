/// "Did you mean": close matches for a mistyped name.
public enum Suggest {
    /// Names close to `name` (a few typos away, or one containing the other, ignoring case), closest first, at most 3.
    public static func closeNames(to name: String, in names: [String]) -> [String] {
        let lower = name.lowercased()
        let scored = names.map { candidate -> (String, Int) in
            let c = candidate.lowercased()
            return (candidate, (c.contains(lower) || lower.contains(c)) ? 0 : distance(lower, c))
        }
        let limit = max(2, name.count / 3)
        return scored.filter { $0.1 <= limit }.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }.prefix(3).map(\.0)
    }

    /// Levenshtein distance over Characters.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
