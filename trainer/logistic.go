package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// LogisticOptions configure L2-regularised logistic regression.
type LogisticOptions struct {
	// C is the inverse regularisation strength, as in scikit-learn: the
	// objective is Σ log loss + ‖w‖² / (2C), the intercept unpenalised.
	// Zero means 1.
	C float64
	// MaxIter bounds the optimiser's iterations. Zero means 500.
	MaxIter int
	// Tol stops the optimiser when no component of the gradient of the
	// mean objective exceeds it, scikit-learn's criterion for lbfgs. Zero
	// means 1e-4, scikit-learn's default.
	Tol float64
	// Knots, when positive, gives each numeric feature up to this many
	// hinge columns at quantile knots of its training values (see
	// model.LinearEncodingOptions), so that its effect on the log-odds can
	// bend; at most model.MaxKnots. Zero means none: the plain linear
	// encoding. It shapes the design vector that Train builds, so
	// FitLogistic, which is given the design, ignores it.
	Knots int
	// Interactions, when positive, is the most pairs of interacting
	// features the model may add to its additive terms, chosen from the
	// additive fit's residuals (see pairs.go); at most model.MaxPairs.
	// Zero means none. Like Knots, FitLogistic ignores it.
	Interactions int
}

// LogisticFit is a fitted logistic regression over design vectors.
type LogisticFit struct {
	Weights    []float64
	Intercept  float64
	Iterations int
	// Loss is the final mean log loss on the training rows, without the
	// penalty.
	Loss float64
}

// FitLogistic fits w and b to minimise the scikit-learn objective
// Σᵢ log(1 + exp(-yᵢ(w·xᵢ + b))) + ‖w‖²/(2C) over row-major design rows x
// (n rows of d columns) and labels, with L-BFGS. The gradient is summed
// over fixed chunks in a fixed order, so the result does not depend on
// scheduling: the same data gives the same bits.
func FitLogistic(ctx context.Context, x []float64, d int, labels []bool, opts LogisticOptions) (*LogisticFit, error) {
	n := len(labels)
	if d <= 0 || len(x) != n*d {
		return nil, leadscore.InvalidField("design", len(x), fmt.Sprintf("must be %d rows of %d columns", n, d))
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, leadscore.InvalidField(fmt.Sprintf("design[%d][%d]", i/d, i%d), v, "must be finite")
		}
	}
	dense := make([]int, d)
	for j := range dense {
		dense[j] = j
	}
	return fitDesign(ctx, &design{n: n, width: d, x: x, dense: dense}, labels, opts)
}

// design is a design matrix held in two parts: the dense columns, row
// major, and the indicator columns (one-hot categories, missing-value
// indicators, pair cells), which are 0 or 1 and mostly 0, as the list of
// each row's columns that are 1. The gradient then costs what a row's
// nonzero values cost, not the width of the design.
type design struct {
	n, width int
	// x holds the dense columns of each row, len(dense) a row; dense
	// gives their design column indexes.
	x     []float64
	dense []int
	// The indicator columns that are 1 in row i are on[start[i]:start[i+1]].
	start []int
	on    []int32
	// scale multiplies the L2 penalty of each column; nil means 1 for
	// every column.
	scale []float64
}

// newDesign encodes the rows (w features wide) with enc, keeping as
// indicator columns those whose values are all 0 or 1 and at most a
// quarter 1, and returns the design and the columns' means.
func newDesign(enc *model.LinearEncoding, w int, rows []float64, n int) (*design, []float64) {
	buf := make([]float64, enc.Width)
	means := make([]float64, enc.Width)
	binary := make([]bool, enc.Width)
	for j := range binary {
		binary[j] = true
	}
	for i := range n {
		enc.Encode(rows[i*w:(i+1)*w], buf)
		for j, v := range buf {
			means[j] += v
			if v != 0 && v != 1 {
				binary[j] = false
			}
		}
	}
	for j := range means {
		means[j] /= float64(n)
	}
	d := &design{n: n, width: enc.Width}
	indicator := make([]bool, enc.Width)
	for j := range indicator {
		indicator[j] = binary[j] && means[j] <= 0.25
		if !indicator[j] {
			d.dense = append(d.dense, j)
		}
	}
	d.x = make([]float64, 0, n*len(d.dense))
	d.start = make([]int, 1, n+1)
	for i := range n {
		enc.Encode(rows[i*w:(i+1)*w], buf)
		for _, j := range d.dense {
			d.x = append(d.x, buf[j])
		}
		for j, v := range buf {
			if indicator[j] && v != 0 {
				d.on = append(d.on, int32(j))
			}
		}
		d.start = append(d.start, len(d.on))
	}
	return d, means
}

// fitDesign fits the logistic regression over a design, as FitLogistic
// describes.
func fitDesign(ctx context.Context, x *design, labels []bool, opts LogisticOptions) (*LogisticFit, error) {
	n, d := x.n, x.width
	if n == 0 {
		return nil, leadscore.InvalidField("labels", 0, "need at least one training row")
	}
	pos := 0
	for _, l := range labels {
		if l {
			pos++
		}
	}
	if pos == 0 || pos == n {
		return nil, leadscore.InvalidField("labels", fmt.Sprintf("%d of %d positive", pos, n), "need both classes")
	}
	c := opts.C
	if c == 0 {
		c = 1
	}
	if !(c > 0) || math.IsInf(c, 0) {
		return nil, leadscore.InvalidField("C", c, "must be a positive number")
	}
	maxIter := opts.MaxIter
	if maxIter == 0 {
		maxIter = 500
	}
	tol := opts.Tol
	if tol == 0 {
		tol = 1e-4
	}
	if !(tol > 0) || math.IsInf(tol, 0) {
		return nil, leadscore.InvalidField("tol", tol, "must be a positive number")
	}

	const chunk = 8192
	chunks := (n + chunk - 1) / chunk
	partLoss := make([]float64, chunks)
	partGrad := make([][]float64, chunks)
	for k := range partGrad {
		partGrad[k] = make([]float64, d+1)
	}
	workers := min(chunks, max(1, runtime.GOMAXPROCS(0)))
	// Each column's L2 penalty: 1/(2C), scaled for the columns the design
	// shrinks harder.
	penalty := make([]float64, d)
	for j := range penalty {
		penalty[j] = 1 / (2 * c)
		if x.scale != nil {
			penalty[j] *= x.scale[j]
		}
	}
	nd := len(x.dense)
	// wd is the dense columns' weights, gathered once per evaluation so
	// that the inner loops run over contiguous memory.
	wd := make([]float64, nd)

	// Objective over params = (w, b), scaled by 1/n so the tolerances mean
	// the same at every data size.
	obj := func(params, grad []float64) float64 {
		w, b := params[:d], params[d]
		for k, j := range x.dense {
			wd[k] = w[j]
		}
		var wg sync.WaitGroup
		next := make(chan int, chunks)
		for k := 0; k < chunks; k++ {
			next <- k
		}
		close(next)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				gd := make([]float64, nd)
				for k := range next {
					g := partGrad[k]
					clear(g)
					clear(gd)
					var loss float64
					for i := k * chunk; i < min(n, (k+1)*chunk); i++ {
						row := x.x[i*nd : (i+1)*nd]
						z := b
						for j, v := range row {
							z += wd[j] * v
						}
						var on []int32
						if x.on != nil {
							on = x.on[x.start[i]:x.start[i+1]]
						}
						for _, j := range on {
							z += w[j]
						}
						var p float64
						if labels[i] {
							loss += softplus(-z)
							p = sigmoid(z) - 1
						} else {
							loss += softplus(z)
							p = sigmoid(z)
						}
						for j, v := range row {
							gd[j] += p * v
						}
						for _, j := range on {
							g[j] += p
						}
						g[d] += p
					}
					for k, j := range x.dense {
						g[j] += gd[k]
					}
					partLoss[k] = loss
				}
			}()
		}
		wg.Wait()
		clear(grad)
		var loss float64
		for k := 0; k < chunks; k++ {
			loss += partLoss[k]
			for j, v := range partGrad[k] {
				grad[j] += v
			}
		}
		loss += penaltyOf(w, penalty)
		for j := 0; j < d; j++ {
			grad[j] += 2 * penalty[j] * w[j]
		}
		inv := 1 / float64(n)
		for j := range grad {
			grad[j] *= inv
		}
		return loss * inv
	}

	params := make([]float64, d+1)
	// Start from the base rate's log-odds: the optimum for w = 0.
	params[d] = math.Log(float64(pos) / float64(n-pos))
	// As scipy's L-BFGS-B in scikit-learn: stop on the gradient, or when an
	// iteration improves the objective by less than 64 machine epsilons.
	iters, err := minimizeLBFGS(ctx, obj, params, lbfgsOptions{memory: 10, maxIter: maxIter, gradTol: tol, relTol: 64 * 0x1p-52})
	if err != nil && !errors.Is(err, errLineSearch) {
		return nil, fmt.Errorf("fit logistic regression: %w", err)
	}
	fit := &LogisticFit{Weights: params[:d:d], Intercept: params[d], Iterations: iters}
	fit.Loss = obj(params, make([]float64, d+1)) - penaltyOf(fit.Weights, penalty)/float64(n)
	return fit, nil
}

// penaltyOf is the L2 penalty Σ penalty[j] w[j]².
func penaltyOf(w, penalty []float64) float64 {
	var s float64
	for j, v := range w {
		s += penalty[j] * v * v
	}
	return s
}

// Logit returns the raw output w·x + b of one design row.
func (f *LogisticFit) Logit(row []float64) float64 {
	return f.Intercept + dot(f.Weights, row)
}

// softplus is log(1 + exp(z)), computed without overflow.
func softplus(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
