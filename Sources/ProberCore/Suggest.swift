/// "Did you mean": close matches for a mistyped name (a probe name on the command line, a key in a probe file).
///
/// Case and `-`/`_` are ignored; a name that contains the other (`api` for `checkout-api`) counts as close.
/// Short names allow one typo, longer ones two, or a third of their length.
public enum Suggest {
    /// Names close to `name`, closest first (ties in alphabetical order), at most `limit`.
    public static func closeNames(to name: String, in names: [String], limit: Int = 3) -> [String] {
        let word = normalize(name)
        let allowed = name.count <= 4 ? 1 : max(2, name.count / 3)
        let scored = names.compactMap { candidate -> (name: String, distance: Int)? in
            let c = normalize(candidate)
            let contained = min(word.count, c.count) >= 3 && (c.contains(word) || word.contains(c))
            let d = contained ? 0 : distance(word, c)
            return d <= allowed ? (candidate, d) : nil
        }
        return scored.sorted { $0.distance != $1.distance ? $0.distance < $1.distance : $0.name < $1.name }.prefix(limit).map(\.name)
    }

    /// The closest name, when one is close enough to be a likely typo.
    public static func nearest(to name: String, in names: [String]) -> String? {
        closeNames(to: name, in: names, limit: 1).first
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

    private static func normalize(_ s: String) -> String {
        String(s.lowercased().map { $0 == "-" ? "_" : $0 })
    }
}
