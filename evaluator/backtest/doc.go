// Package backtest runs backtests: it scores a candidate, the champion and
// the points baseline on the same rows (a history as of a cut-off, or a
// flat table), computes their figures with package evaluator, applies the
// gate and assembles the report.
//
// It is a package of its own, not part of evaluator, because it trains the
// built-in points baseline and reads flat tables through package trainer,
// and trainer already imports evaluator for its held-out metrics.
package backtest
