import ProberCore
import ProberStorage

extension PostgresStore {
    /// Statements sent on the store's connection so far (`PGConnection.statements`).
    var statementsSent: Int { queue.sync { connection.statements } }
}
