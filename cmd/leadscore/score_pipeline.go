package main

import (
	"context"
	"errors"
	"io"
	"sync"
)

// pipeline runs chunks of work through three stages: one goroutine reads
// chunks in order, workers process them in any order, and write sees them
// in the order they were read. A fixed pool of chunks circulates, so at
// most len(pool) chunks exist whatever the size of the input: the reader
// waits for the writer to hand one back. This is what keeps batch scoring
// in bounded memory while every core featurizes and scores.
type pipeline[C any] struct {
	// pool are the chunks that circulate; more than workers+1 keeps the
	// workers busy while the writer writes.
	pool []C
	// workers is the number of goroutines running work.
	workers int
	// read fills the next chunk, returning io.EOF when there is none.
	read func(ctx context.Context, c C) error
	// work processes a chunk; w (0 ≤ w < workers) identifies the worker,
	// for state it keeps between chunks.
	work func(ctx context.Context, w int, c C) error
	// write takes the processed chunks in read order.
	write func(c C) error
}

// slot is a pooled chunk with the signal that its work is done.
type slot[C any] struct {
	c    C
	done chan error
}

// run runs the pipeline to the end of the input, or to the first error of
// any stage, which it returns (the context's cause when ctx ends first).
// Work already handed out is finished and dropped after an error, never
// written.
func (p pipeline[C]) run(ctx context.Context) error {
	if len(p.pool) == 0 || p.workers < 1 {
		return errors.New("pipeline: no chunks or no workers")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	free := make(chan *slot[C], len(p.pool))
	for _, c := range p.pool {
		free <- &slot[C]{c: c, done: make(chan error, 1)}
	}
	// order and todo never block a send: at most len(pool) slots exist.
	order := make(chan *slot[C], len(p.pool))
	todo := make(chan *slot[C], len(p.pool))
	var wg sync.WaitGroup
	wg.Add(1 + p.workers)
	go func() {
		defer wg.Done()
		defer close(todo)
		defer close(order)
		for ctx.Err() == nil {
			var s *slot[C]
			select {
			case s = <-free:
			case <-ctx.Done():
				return
			}
			if err := p.read(ctx, s.c); err != nil {
				if err != io.EOF {
					cancel(err)
				}
				return
			}
			order <- s
			todo <- s
		}
	}()
	for w := range p.workers {
		go func() {
			defer wg.Done()
			for s := range todo {
				s.done <- p.work(ctx, w, s.c)
			}
		}()
	}
	var err error
	for s := range order {
		werr := <-s.done
		if err == nil && werr == nil {
			werr = p.write(s.c)
		}
		if err == nil && werr != nil {
			err = werr
			cancel(err)
		}
		free <- s
	}
	wg.Wait()
	if err == nil {
		err = context.Cause(ctx)
	}
	return err
}
