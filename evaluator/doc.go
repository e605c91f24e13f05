// Package evaluator backtests model versions against historical
// conversions and judges them: the metrics (ranking, calibration, lift),
// the gates a candidate must pass, and the reports people and CI read.
// The runner that scores a history or a flat table with each model and
// assembles the report is package evaluator/backtest, since it trains the
// points baseline through package trainer, which imports this one.
package evaluator
