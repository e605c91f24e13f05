package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/leadscore/leadscore"
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
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, leadscore.InvalidField(fmt.Sprintf("design[%d][%d]", i/d, i%d), v, "must be finite")
		}
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
	penalty := 1 / (2 * c)

	// Objective over params = (w, b), scaled by 1/n so the tolerances mean
	// the same at every data size.
	obj := func(params, grad []float64) float64 {
		w, b := params[:d], params[d]
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
				for k := range next {
					g := partGrad[k]
					clear(g)
					var loss float64
					for i := k * chunk; i < min(n, (k+1)*chunk); i++ {
						row := x[i*d : (i+1)*d]
						z := b
						for j, v := range row {
							z += w[j] * v
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
							g[j] += p * v
						}
						g[d] += p
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
		for j := 0; j < d; j++ {
			loss += penalty * w[j] * w[j]
			grad[j] += 2 * penalty * w[j]
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
	var loss float64
	for i := 0; i < n; i++ {
		z := fit.Intercept + dot(fit.Weights, x[i*d:(i+1)*d])
		if labels[i] {
			loss += softplus(-z)
		} else {
			loss += softplus(z)
		}
	}
	fit.Loss = loss / float64(n)
	return fit, nil
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
