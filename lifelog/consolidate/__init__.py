"""Nightly consolidation (issue #14): the pass that tidies the memory while the user sleeps
(merge fragments, re-cluster faces, compact, re-index, retention, de-duplicate), the words that
describe days and episodes, the plain-text memory profile, and the APScheduler that runs it all.
Sits above privacy (it applies retention) and below lifelog.api. See docs/consolidation.md."""
