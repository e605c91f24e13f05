// Package registry keeps versioned models and the aliases that serve them,
// over a leadscore.RegistryStore: it validates what comes from outside
// (artifact files, names, reasons), decides whether an alias may move (the
// gate), and loads the versions a serving process needs when an alias
// moves. It also runs the two jobs whose results it keeps: a backtest
// (Backtest) and a training run (Train), each shared by the command line
// and the server's jobs. The store holds the data and the transactions;
// this package holds the rules, so both storage backends enforce the same
// ones.
package registry
