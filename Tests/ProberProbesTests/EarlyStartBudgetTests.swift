import Testing
@testable import ProberProbes

/// A turn of the engine loop starts every due check, and at most `EarlyStartBudget.perTurn` before their due time.
@Suite struct EarlyStartBudgetTests {
    let ms: Int64 = 1_000_000
    let now: Int64 = 1_000 * 1_000_000

    @Test func aTurnStartsAtMostItsShareEarlyAndEveryDueCheck() {
        var budget = EarlyStartBudget()
        budget.newTurn()
        var early = 0
        for i in 0..<(EarlyStartBudget.perTurn + 10) where budget.admits(due: now + 5 * ms + Int64(i), window: 100 * ms, now: now) {
            early += 1
        }
        #expect(early == EarlyStartBudget.perTurn)
        // Spent: a check due now, or late, still starts; one not yet due does not.
        let dueNow = budget.admits(due: now, window: 100 * ms, now: now)
        let late = budget.admits(due: now - 50 * ms, window: 100 * ms, now: now)
        let notYet = budget.admits(due: now + 1 * ms, window: 100 * ms, now: now)
        #expect(dueNow && late && !notYet)
        // The next turn may again.
        budget.newTurn()
        let nextTurn = budget.admits(due: now + 1 * ms, window: 100 * ms, now: now)
        #expect(nextTurn)
        #expect(budget.left == EarlyStartBudget.perTurn - 1)
    }

    @Test func noCheckStartsBeforeItsWindowNorCountsAgainstTheTurn() {
        var budget = EarlyStartBudget()
        budget.newTurn()
        let beyond = budget.admits(due: now + 101 * ms, window: 100 * ms, now: now)
        let beyondShort = budget.admits(due: now + 2 * ms, window: 1 * ms, now: now)
        #expect(!beyond && !beyondShort)
        #expect(budget.left == EarlyStartBudget.perTurn)
        let atTheEdge = budget.admits(due: now + 100 * ms, window: 100 * ms, now: now)
        #expect(atTheEdge)
    }
}
